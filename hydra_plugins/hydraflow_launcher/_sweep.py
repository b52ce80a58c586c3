"""The hydraflow sweeper's work: overrides -> batch groups -> launches -> summary.

Runs are streamed: a 100k-run sweep is never held in memory, the launcher
gets chunks of a batch group, and every run is numbered 0..N-1 in order.
Validation composes one run per distinct set of config-group choices, not
every run. A failed run never stops the others; the summary at the end lists
every failure and the multirun exits non-zero.
"""

from __future__ import annotations

import logging
import sys
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from omegaconf import OmegaConf

from hydraflow_core.errors import HydraflowError
from hydraflow_core.syntax import parse_sweep
from hydraflow_core.syntax.parser import unquote_groups

from ._compose import RunComposer
from ._overrides import prepare
from ._reasons import base60_source, composition_reason

log = logging.getLogger(__name__)

#: Sweeps up to this many runs return full JobReturns (configs included), as
#: Hydra's basic sweeper does; larger ones keep no run's config in memory.
KEEP_CONFIGS_UP_TO = 1000
#: Runs handed to the launcher per call when max_batch_size is not set.
CHUNK = 1000


class SweepError(CompactHydraException):
    """Bad sweep input or settings: Hydra prints the message alone, exits 1."""


def run_sweep(sweeper: Any, arguments: List[str]) -> List[Sequence[JobReturn]]:
    config = sweeper.config
    launcher = sweeper.launcher
    composer = getattr(launcher, "composer", None) or RunComposer(sweeper.hydra_context, config)
    try:
        groups = _batch_groups(sweeper, arguments, composer)
    except HydraflowError as error:
        raise SweepError(f"hydraflow: {error}") from None
    total = sum(group.count() for group in groups)

    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    _validate(composer, groups)

    keep = total <= KEEP_CONFIGS_UP_TO
    if hasattr(launcher, "keep_configs"):
        launcher.keep_configs = keep
    size = sweeper.max_batch_size or CHUNK
    log.info(f"hydraflow: {total} runs in {len(groups)} batch group(s)")
    chunk_sizes: List[int] = []
    results: Dict[int, JobReturn] = {}
    failures: List[Tuple[int, JobReturn]] = []
    done = 0
    try:
        for number, result in _launch(launcher, groups, size, chunk_sizes):
            done += 1  # every result counts, also those drained after Ctrl-C
            if result.status != JobStatus.COMPLETED:
                failures.append((number, _slim(result)))
            if keep:
                results[number] = result
    except KeyboardInterrupt:
        _ignore_further_interrupts()
        getattr(launcher, "terminate", getattr(launcher, "close", lambda: None))()
        sys.stderr.write(f"hydraflow: interrupted after {done} of {total} runs ({len(failures)} failed)\n")
        raise SystemExit(130) from None
    finally:
        getattr(launcher, "close", lambda: None)()
    if failures:
        # Printed here and ended with SystemExit, which Hydra's run_and_report does not
        # decorate: its HYDRA_FULL_ERROR advice would show only hydraflow's own stack.
        summary = _failure_summary(total, sorted(failures, key=lambda f: f[0]))
        sys.stderr.write(summary + "\n")
        sys.stderr.flush()
        raise SystemExit(1)
    log.info(f"hydraflow: {total} runs completed")
    returns: List[Sequence[JobReturn]] = []
    number = 0
    for chunk_size in chunk_sizes if keep else []:  # results grouped as the launcher got them
        returns.append([results[n] for n in range(number, number + chunk_size)])
        number += chunk_size
    return returns


def _ignore_further_interrupts() -> None:
    """The sweep is ending with 130: another Ctrl-C now (even while Python shuts down) changes nothing."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _launch(launcher: Any, groups: list, size: int, chunk_sizes: List[int]) -> Iterator[Tuple[int, JobReturn]]:
    """Every run through the launcher: streamed (no wait between chunks) when it can, else chunk by chunk."""
    def chunks() -> Iterator[List[List[str]]]:
        for group in groups:
            for chunk in _chunks(group.runs(), size):
                chunk_sizes.append(len(chunk))
                yield chunk

    if hasattr(launcher, "launch_stream"):
        yield from launcher.launch_stream(chunks())
        return
    number = 0
    for chunk in chunks():
        yield from zip(range(number, number + len(chunk)), launcher.launch(chunk, initial_job_idx=number))
        number += len(chunk)


def _batch_groups(sweeper: Any, arguments: List[str], composer: RunComposer) -> list:
    """Each sub-sweep (a '|' section) is a batch group; with `job`, each batch of the job too."""
    params = [f"{key}={_param_text(sweeper, key, value)}" for key, value in sweeper.params.items()]

    def ready(overrides: List[str]) -> List[str]:
        return [unquote_groups(o) for o in prepare(overrides, composer.parser, composer.loader)]

    overrides = ready(params + list(arguments))
    if not sweeper.job:
        return parse_sweep(overrides).groups()
    from hydraflow_core import jobfile
    from hydraflow_core.plan import plan_job

    path, shown_as = _job_file(sweeper)
    job = jobfile.get_job(jobfile.load(path, shown_as), sweeper.job, str(path))
    groups = []
    for batch in plan_job(job, generated=False).batches:
        groups.extend(parse_sweep([*ready(list(batch.arguments)), *overrides]).groups())
    return groups


def _job_file(sweeper: Any) -> Tuple[Path, str]:
    """The job file of `hydra.sweeper.job`: `hydra.sweeper.file`, else hydraflow.yaml where Hydra started."""
    from hydraflow_core.jobfile import FILE_NAME
    from hydraflow_core.errors import UsageError

    cwd = Path(str(sweeper.config.hydra.runtime.cwd))
    if sweeper.file:
        path = cwd / str(sweeper.file)
        if not path.is_file():
            problem = "a directory, not a file" if path.is_dir() else "no such file"
            raise UsageError(f"hydra.sweeper.file={sweeper.file}: {problem} (in {cwd})")
        return path, str(sweeper.file)
    path = cwd / FILE_NAME
    if not path.is_file():
        raise UsageError(f"no {FILE_NAME} in {cwd} for hydra.sweeper.job={sweeper.job} "
                         f"(write one, or give its path with hydra.sweeper.file=PATH)")
    return path, FILE_NAME


def _param_text(sweeper: Any, key: str, value: Any) -> str:
    """A `hydra.sweeper.params` value as text; YAML 1.1 turns an unquoted 1:30 into 90."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 60:
        written = base60_source(sweeper.config, key, value)
        if written is not None:
            log.warning(
                f"hydraflow: hydra.sweeper.params.{key} is the number {value}: YAML 1.1 reads the unquoted "
                f"{written[1]} in {written[0]} as a base-60 number; for a range quote it ('{written[1]}')"
            )
    if isinstance(value, (list, tuple)) or OmegaConf.is_list(value):
        return ",".join(str(v) for v in value)
    return str(value)


def _validate(composer: RunComposer, groups: list) -> None:
    """Compose one run per distinct set of config-group choices, before any run starts."""
    seen = set()
    for group in groups:
        for run in group.runs():
            key = composer.group_overrides(run)
            if key in seen:
                continue
            seen.add(key)
            try:
                composer.compose(run)  # builds the template the launcher then reuses
            except Exception as error:
                raise SweepError(
                    f"hydraflow: the run {' '.join(run)} cannot be composed:\n{composition_reason(error)}"
                ) from None


def _chunks(runs: Iterator[List[str]], size: int) -> Iterator[List[List[str]]]:
    while True:
        chunk = list(islice(runs, size))
        if not chunk:
            return
        yield chunk


def _slim(result: JobReturn) -> JobReturn:
    slim = JobReturn(overrides=result.overrides, working_dir=result.working_dir,
                     task_name=result.task_name, status=result.status,
                     _return_value=result._return_value)
    slim.log_path = getattr(result, "log_path", None)
    slim.traceback_in_log = getattr(result, "traceback_in_log", False)
    slim.output_dir = None
    if slim.log_path is None and result.hydra_cfg is not None:  # another launcher's result
        slim.output_dir = str(result.hydra_cfg.hydra.runtime.output_dir)
    return slim


def _failure_summary(total: int, failures: List[Tuple[int, JobReturn]]) -> str:
    lines = [f"hydraflow: {len(failures)} of {total} runs failed ({total - len(failures)} completed):"]
    tracebacks_in_logs = False
    for number, result in failures:
        error = result._return_value
        reason = f"{type(error).__name__}: {error}".splitlines()[0] if error is not None else "failed"
        lines.append(f"  #{number} {' '.join(result.overrides or [])}")
        lines.append(f"      {reason}")
        if result.log_path:
            lines.append(f"      log: {result.log_path}")
        elif result.output_dir:
            lines.append(f"      output: {result.output_dir}")
        tracebacks_in_logs = tracebacks_in_logs or result.traceback_in_log
    if tracebacks_in_logs:
        lines.append("The traceback of a failed run is at the end of its log.")
    return "\n".join(lines)
