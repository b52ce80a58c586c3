"""The hydraflow sweeper's work: overrides -> batch groups -> launches -> summary.

Runs are streamed: a 100k-run sweep is never held in memory, the launcher
gets chunks of a batch group, and every run is numbered 0..N-1 in order.
Validation composes one run per distinct set of config-group choices, not
every run. A failed run never stops the others; the summary at the end lists
every failure and the multirun exits non-zero.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from omegaconf import OmegaConf

from hydraflow_core import manifest
from hydraflow_core.cli.summary import failure_summary, next_steps, shown
from hydraflow_core.manifest import replay
from hydraflow_core.errors import HydraflowError
from hydraflow_core.executors import RunResult
from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.stop import Stopped
from hydraflow_core.plan import Run, Task, chunks, group_chunks, number_runs

from ._compose import RunComposer
from ._groups import batch_groups
from hydraflow_core.cli.reasons import composition_reason
from ._returned import recorded
from ._runs import as_job_return

log = logging.getLogger(__name__)

HYDRAFLOW_SWEEPER = "hydra_plugins.hydraflow_launcher.sweeper.HydraflowSweeper"

#: Sweeps up to this many runs return full JobReturns (configs included), as
#: Hydra's basic sweeper does; larger ones keep no run's config in memory.
KEEP_CONFIGS_UP_TO = 1000
#: Runs handed to the launcher per call when max_batch_size is not set.
CHUNK = 1000


class SweepError(CompactHydraException):
    """Bad sweep input or settings: Hydra prints the message alone, exits 1."""


def run_sweep(sweeper: Any, arguments: List[str]) -> List[Sequence[JobReturn]]:
    config = sweeper.config
    from .launcher import HydraflowLauncher

    launcher = sweeper.launcher
    ours = isinstance(launcher, HydraflowLauncher)
    composer = launcher.composer if ours else RunComposer(sweeper.hydra_context, config)
    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    info = {"params": {k: str(v) for k, v in sweeper.params.items()}, "job": sweeper.job}
    try:
        spec = replay.current_spec()
        if spec is not None:
            groups, subdirs = _replay_groups(spec, sweep_dir)
            if ours:
                launcher.ctx.subdirs.update(subdirs)
        else:
            groups = batch_groups(sweeper, arguments, composer)
    except HydraflowError as error:
        raise SweepError(f"hydraflow: {error}") from None
    total = sum(_size(group) for group in groups)

    dry_run = ours and launcher.settings.dry_run
    if not dry_run:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    if spec is None and not dry_run:
        OmegaConf.save(config, sweep_dir / "multirun.yaml")
    if not dry_run:  # a dry run composes every run itself, and lists the first that fail
        _validate(composer, groups)
    keep = total <= KEEP_CONFIGS_UP_TO
    if ours:
        launcher.keep_configs = keep
    log.info(f"hydraflow: {total} runs in {len(groups)} batch group(s)" +
             (f" (a replay of {total} recorded runs)" if spec else ""))
    runs = spec_runs(groups, spec)
    results: Dict[int, JobReturn] = {}
    failures: List[RunResult] = []
    done = 0

    def take(result: RunResult) -> None:
        nonlocal done
        if result.state == manifest.INTERRUPTED:
            return  # stopped half way: not finished, and retry runs it again
        done += 1  # every result counts, also those that come in while stopping
        if result.state != manifest.COMPLETED:
            failures.append(dataclasses.replace(result, value=None))  # no run's config kept
        if keep:
            results[result.run.number] = as_job_return(result) if ours else result.value

    try:
        if ours:
            launcher.dispatch(runs, total, take, {"_target_": HYDRAFLOW_SWEEPER, **info})
        else:
            _launch_elsewhere(sweeper, runs, total, info, take)
    except Stopped as stop:
        if ours and launcher.executor is not None and launcher.executor.left_running:  # Slurm: nothing cancelled
            sys.stderr.write(f"hydraflow: stopped waiting after {done} of {total} runs ended; the sweep goes "
                             f"on on the cluster\n" + next_steps(sweep_dir, slurm=True))
        else:
            sys.stderr.write(f"hydraflow: interrupted after {done} of {total} runs ({len(failures)} failed)\n"
                             + next_steps(sweep_dir))
        raise SystemExit(stop.exit_code) from None
    except HydraflowError as error:  # a claim held by another launch, a submission Slurm refused
        sys.stderr.write(f"hydraflow: error: {error}\n")
        raise SystemExit(2) from None
    finally:
        if ours:
            launcher.close()
    executor = launcher.executor if ours else None
    machine = executor.machine_error if executor is not None else None
    if dry_run:
        return []
    if executor is not None and executor.submitted_only:  # slurm, wait=false: the runs go on on the cluster
        arrays = len(executor.arrays)
        sys.stderr.write(f"hydraflow: submitted {total} runs to Slurm in {arrays} array(s); they run on the "
                         f"cluster: {shown(sweep_dir)}\n" + next_steps(sweep_dir, slurm=True))
        return []
    if failures or done < total:
        # Printed here and ended with SystemExit, which Hydra's run_and_report does not
        # decorate: its HYDRA_FULL_ERROR advice would show only hydraflow's own stack.
        summary = failure_summary(total, sorted(failures, key=lambda f: f.run.number), done, machine)
        sys.stderr.write(summary + "\n" + next_steps(sweep_dir))
        sys.stderr.flush()
        raise SystemExit(1)
    log.info(f"hydraflow: {total} runs completed")
    if not keep:
        return []
    ordered = [Run(n, tuple(results[n].overrides or ()), 0) for n in sorted(results)]
    size = sweeper.max_batch_size or CHUNK
    return [[results[r.number] for r in chunk] for chunk in chunks(ordered, size)]


#: The recorded runs a replay names, by group (moved to the manifest's replay module: the Slurm node uses it too).
_replay_groups = replay.replay_runs


def _size(group: Any) -> int:
    return len(group) if isinstance(group, list) else group.count()


def _overrides_of(group: Any) -> Iterator[Sequence[str]]:
    """The overrides of each run of a group: a sweep's group, or a replay's recorded runs."""
    if isinstance(group, list):
        return (run.overrides for run in group)
    return group.runs()


def spec_runs(groups: List[Any], spec: Optional[replay.ReplaySpec]) -> Iterator[Run]:
    """The runs to run: every run of the groups numbered 0..N-1, or a replay's recorded ones."""
    if spec is None:
        return number_runs(group.runs() for group in groups)
    return (run for group in groups for run in group)


def _launch_elsewhere(sweeper: Any, runs: Iterator[Run], total: int, info: Dict[str, Any], take) -> None:
    """Another launcher (joblib, submitit ...): chunks through Hydra's launch(); this process records them."""
    from hydraflow_core.executors import stop_signals
    from hydraflow_core.session import Session

    from .launcher import sweep_header

    launcher = sweeper.launcher
    settings = {"_target_": type(launcher).__name__}
    session = Session(Path(str(sweeper.config.hydra.sweep.dir)), settings)
    events = session.open({"kind": "launch", "runs": total, "argv": sys.argv}, lambda: sweep_header(
        sweeper.config, settings, {"_target_": HYDRAFLOW_SWEEPER, **info}, total))
    size = sweeper.max_batch_size or CHUNK
    try:
        with stop_signals():
            for index, chunk in enumerate(group_chunks(runs, size)):
                list(session.planned([Task(index, chunk[0].group, tuple(chunk))]))
                contiguous = all(b.number == a.number + 1 for a, b in zip(chunk, chunk[1:]))
                for call in ([chunk] if contiguous else [[r] for r in chunk]):
                    for run in call:
                        events.started(run.number, job_id=type(launcher).__name__)
                    returns = launcher.launch([list(r.overrides) for r in call], initial_job_idx=call[0].number)
                    for run, returned in zip(call, returns):
                        result = _result(run, returned)
                        events.ended(run.number, result.state, result.error, **_end_details(result, returned))
                        take(result)
    except KeyboardInterrupt:
        raise Stopped(stops.stopping() or signal.SIGINT) from None
    finally:
        session.close()


def _result(run: Run, returned: JobReturn) -> RunResult:
    """Another launcher's JobReturn as a run's result (the JobReturn itself its value)."""
    state = manifest.COMPLETED if returned.status == JobStatus.COMPLETED else manifest.FAILED
    error = None
    if state != manifest.COMPLETED:
        value = returned._return_value
        error = f"{type(value).__name__}: {value}".splitlines()[0] if value is not None else "failed"
    output = None if returned.hydra_cfg is None else str(returned.hydra_cfg.hydra.runtime.output_dir)
    return RunResult(run, state, error, value=returned, output_dir=output)


def _end_details(result: RunResult, returned: JobReturn) -> Dict[str, Any]:
    """What the end event of another launcher's run holds besides its state: where it wrote, what it returned
    (as the hydraflow launcher records it)."""
    details: Dict[str, Any] = {"output_dir": result.output_dir} if result.output_dir else {}
    if result.state == manifest.COMPLETED:
        value = recorded(returned._return_value)
        if value is not None:
            details["return_value"] = value
    return details


def _validate(composer: RunComposer, groups: list) -> None:
    """Compose one run per distinct set of config-group choices, before any run starts."""
    seen = set()
    for group in groups:
        for run in _overrides_of(group):
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


