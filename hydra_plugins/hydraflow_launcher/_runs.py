"""How one Hydra run executes, for hydraflow's executors: compose once, then Hydra's ``run_job``;
and the one conversion of an executor's result into the JobReturn sweepers expect (:func:`as_job_return`).

:class:`HydraRuns` is the run function the local executor calls, in this
process or in a forked worker (inherited, never pickled: no task function,
config loader or singleton crosses a pipe). It composes the run's config from
the cached template, records where the run writes (its output directory and
log, for the manifest's start record), runs it exactly as Hydra's basic
launcher does, and appends a failed run's traceback to its log.
"""

from __future__ import annotations

import logging
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf, open_dict

from hydraflow_core.executors import COMPLETED, FAILED, INTERRUPTED, MachineError, RunError, RunResult
from hydraflow_core.executors.local.runone import machine_error
from hydraflow_core.executors.stop import in_task
from hydraflow_core.plan import Run

from ._lean import log_file as lean_log_file, run as lean_run
from ._returned import recorded

if TYPE_CHECKING:  # a Slurm node runs saved configs: no composer, no override parser to import
    from ._compose import RunComposer

log = logging.getLogger(__name__)


@dataclass
class Context:
    """Everything a run needs; inherited by forked workers, never pickled."""

    hydra_context: Any
    task_function: Callable
    config: DictConfig
    composer: "RunComposer"  # or, on a Slurm node, the saved configs (_configs.SavedConfigs): compose_run(run)
    keep_configs: bool = True
    subdirs: Dict[int, str] = field(default_factory=dict)  # replay: a run's recorded output subdirectory


def _log_file(hydra: DictConfig) -> str:
    """Where a run's job logging writes (Hydra's default: <output dir>/<job name>.log)."""
    path = OmegaConf.select(hydra, "job_logging.handlers.file.filename", default=None)
    return str(path) if path else str(hydra.runtime.output_dir)


def _append_traceback(path: str, error: Any, start: int = 0) -> bool:
    """Hydra 1.3 keeps a failed run's exception in memory only; its log gets the traceback.
    Hydra 1.4 logs it there itself ("Job failed"): then it is not written twice. ``start`` is
    the log's size when the run began (a retry's log goes on after the failed attempt's)."""
    if not isinstance(error, BaseException):
        return False
    if _logged_since(path, start, error):
        return True
    try:
        with open(path, "a") as log_file:
            traceback.print_exception(type(error), error, error.__traceback__, file=log_file)
    except OSError:
        return False
    return True


def _log_size(path: Optional[str]) -> int:
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


def _logged_since(path: str, start: int, error: BaseException) -> bool:
    """True when what the log at ``path`` got after byte ``start`` ends with ``error``'s traceback."""
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    try:
        with open(path, "rb") as log_file:
            end = log_file.seek(0, os.SEEK_END)
            log_file.seek(max(start if start <= end else 0, end - 4 * len(last) - 4096))
            tail = log_file.read().decode("utf-8", errors="replace")
    except OSError:
        return False
    return "Traceback (most recent call last)" in tail and tail.rstrip().endswith(last)


def one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text.splitlines()[0] if text else type(error).__name__


def failed_return(overrides: Sequence[str], error: str) -> JobReturn:
    """A JobReturn for a run that produced none (it could not be composed, its worker died ...)."""
    return JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=RunError(error),
                     working_dir=None, task_name=None)


class HydraRuns:
    """The executor's run function for Hydra runs (see :class:`hydraflow_core.executors.RunFunction`)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _config(self, run: Run, look_ahead: bool = False) -> DictConfig:
        cfg = self.ctx.composer.compose_run(run, look_ahead=look_ahead)
        with open_dict(cfg):
            cfg.hydra.job.id = str(run.number)  # a str field: OmegaConf 2.4 warns on an int
            cfg.hydra.job.num = run.number
            if run.number in self.ctx.subdirs:  # a replay writes where the run wrote before
                cfg.hydra.sweep.subdir = self.ctx.subdirs[run.number]
        return cfg

    def _where(self, cfg: DictConfig) -> Dict[str, Any]:
        hydra = cfg.hydra
        output_dir = os.path.abspath(Path(str(hydra.sweep.dir)) / str(hydra.sweep.subdir))
        with open_dict(hydra):
            hydra.runtime.output_dir = output_dir
        return {"output_dir": output_dir, "log": _log_file(hydra)}

    def prepare(self, run: Run) -> Dict[str, Any]:
        try:
            cfg = self._config(run)
        except Exception as error:  # fails this run alone, with Hydra's reason (its message and causes)
            if machine_error(error):
                raise
            from hydraflow_core.cli.reasons import composition_hint, reason_line

            hint = composition_hint(error)
            log.error(f"#{run.number} cannot be composed: {reason_line(error)}" + (f"\nhint: {hint}" if hint else ""))
            raise RunError(f"cannot be composed: {reason_line(error)}") from error
        prepared = self._where(cfg)  # sets hydra.runtime.output_dir, as run_job then does itself
        prepared["config"] = cfg
        return prepared

    def prepare_config(self, run: Run) -> DictConfig:
        """The run's config as it will run, ``hydra.runtime.output_dir`` set: a plan's look ahead, to be read
        before the next call (see RunComposer.compose)."""
        cfg = self._config(run, look_ahead=True)
        hydra = cfg.hydra
        with open_dict(hydra):
            hydra.runtime.output_dir = os.path.abspath(Path(str(hydra.sweep.dir)) / str(hydra.sweep.subdir))
        return cfg

    def describe(self, run: Run) -> Dict[str, Any]:
        """Where run ``run`` writes, worked out again (for a run whose worker died)."""
        try:
            return self._where(self._config(run))
        except Exception:
            return {}

    def execute(self, run: Run, prepared: Dict[str, Any]) -> RunResult:
        ctx = self.ctx
        log_start = _log_size(prepared.get("log"))
        # Hydra's run_job, then Hydra's logging again; the same, cheaper, on the lean path (hydra.launcher.lean)
        result = lean_run(ctx.hydra_context, in_task(ctx.task_function), prepared["config"], ctx.config,
                          ctx.keep_configs)
        log_path = None if result.hydra_cfg is None else lean_log_file(result.hydra_cfg.hydra) or _log_file(
            result.hydra_cfg.hydra)
        failed = result.status != JobStatus.COMPLETED
        logged = bool(failed and log_path and _append_traceback(log_path, result._return_value, log_start))
        output_dir = None if result.hydra_cfg is None else str(result.hydra_cfg.hydra.runtime.output_dir)
        if not ctx.keep_configs:
            result.cfg = result.hydra_cfg = None
        error = None
        if failed:
            value = result._return_value
            error = one_line(value) if isinstance(value, BaseException) else "failed"
            if isinstance(value, BaseException) and machine_error(value):  # a full disk fails every run after it
                raise MachineError(machine_error(value))
        return RunResult(run, FAILED if failed else COMPLETED, error, value=result,
                         log=log_path or prepared.get("log"), output_dir=output_dir or prepared.get("output_dir"),
                         returned=None if failed else recorded(result._return_value), traceback_in_log=logged)


def as_job_return(result: RunResult) -> JobReturn:
    """The sweeper's view of an executor result: the run's own JobReturn when it travelled (forked workers,
    in-process runs), else one made from the run's record (a fresh interpreter, a Slurm task, a dead worker)."""
    value = result.value
    if isinstance(value, JobReturn) and result.state != INTERRUPTED:
        return value
    if result.state == COMPLETED:  # ran elsewhere, or its JobReturn could not travel (an unpicklable value)
        return JobReturn(overrides=list(result.run.overrides), status=JobStatus.COMPLETED,
                         _return_value=value if value is not None else result.returned,
                         working_dir=result.output_dir, task_name=None)
    return failed_return(result.run.overrides, result.error or result.state)
