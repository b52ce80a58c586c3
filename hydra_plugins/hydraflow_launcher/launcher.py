"""`hydra/launcher=hydraflow`: dispatches runs, in-process or to forked workers.

Hydra imports this module at start-up: the heavy parts are imported lazily.
"""

import logging
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Sequence, Tuple

from hydra.core.utils import JobReturn
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

BACKENDS = ("local", "slurm")
FIELDS = ("backend", "max_parallel", "gpus", "runs_per_task", "start", "wait", "slurm")
STARTS = ("fork", "exec")


class LauncherSettingsError(CompactHydraException):
    """Bad hydra.launcher.* values: Hydra prints the message alone."""


# A GPU id as CUDA_VISIBLE_DEVICES takes it: an index, or a GPU / MIG UUID.
_GPU_ID = re.compile(r"[0-9]+|(GPU|MIG)-[0-9A-Za-z/-]+")


def _gpu_problems(gpus: Any) -> List[str]:
    valid = "gpus must hold GPU ids: whole numbers (0, 1, ...) or GPU UUIDs (GPU-..., MIG-...)"
    if gpus is None:
        return []
    if not isinstance(gpus, (list, tuple)):
        return [f"gpus must be a list of GPU ids, e.g. [0,1], not {gpus!r}"]
    bad = [g for g in gpus if isinstance(g, bool) or not isinstance(g, (int, str))
           or (isinstance(g, int) and g < 0) or (isinstance(g, str) and not _GPU_ID.fullmatch(g.strip()))]
    if bad:
        return [f"{valid}, not {', '.join(repr(g) for g in bad)}"]
    return []


class HydraflowLauncher(Launcher):
    def __init__(self, backend: str = "local", max_parallel: int = 1, gpus: Any = (),
                 runs_per_task: int = 1, start: str = "fork", wait: bool = True, slurm: Any = None,
                 **unknown: Any) -> None:
        # Checked in setup(): an error raised here would reach the user wrapped by Hydra's instantiate.
        self.backend, self.max_parallel, self.runs_per_task, self.unknown = backend, max_parallel, runs_per_task, unknown
        self.wait = wait
        self.start = start
        if OmegaConf.is_config(slurm):
            slurm = OmegaConf.to_container(slurm, resolve=True)
        self.slurm = dict(slurm or {})
        if OmegaConf.is_config(gpus):
            gpus = OmegaConf.to_container(gpus)
        if isinstance(gpus, str):
            gpus = [g.strip() for g in gpus.split(",") if g.strip()]
        elif isinstance(gpus, int) and not isinstance(gpus, bool):
            gpus = [gpus]
        self.raw_gpus = gpus
        self.gpus = [str(g).strip() for g in gpus] if isinstance(gpus, (list, tuple)) else []
        self.keep_configs = True  # the hydraflow sweeper turns this off for large sweeps
        self.ctx = None
        self.executor = None
        self.machine_error = None  # a fault of the machine that stopped the last sweep (disk full)

    def _check_settings(self) -> None:
        problems = []
        if self.unknown:
            problems.append(f"unknown field {', '.join(sorted(self.unknown))} (valid fields: {', '.join(FIELDS)})")
        if self.backend not in BACKENDS:
            problems.append(f"backend must be one of: {', '.join(BACKENDS)}, not {self.backend!r}")
        for name in ("max_parallel", "runs_per_task"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a whole number of at least 1, not {value!r}")
        problems.extend(_gpu_problems(self.raw_gpus))
        from hydraflow_core.executors.slurm.fields import problems as slurm_problems

        problems.extend(slurm_problems(self.slurm))
        if self.start not in STARTS:
            problems.append(f"start must be one of: {', '.join(STARTS)}, not {self.start!r}")
        if not isinstance(self.wait, bool):
            problems.append(f"wait must be true or false, not {self.wait!r}")
        if problems:
            raise LauncherSettingsError("\n".join(f"hydra.launcher: {p}" for p in problems))
        repeated = sorted({g for g in self.gpus if self.gpus.count(g) > 1})
        if repeated:
            log.warning(f"hydraflow: hydra.launcher.gpus names {', '.join(repeated)} more than once: "
                        f"workers given the same id share that GPU")
        if self.gpus and self.max_parallel > len(self.gpus):
            log.warning(f"hydraflow: {self.max_parallel} workers share {len(self.gpus)} GPUs "
                        f"({', '.join(self.gpus)}), handed out in turn")

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from ._compose import RunComposer
        from ._local import Context

        self._check_settings()
        self.config = config
        self.ctx = Context(hydra_context, task_function, config, RunComposer(hydra_context, config))

    @property
    def composer(self):
        return self.ctx.composer

    def settings(self) -> dict:
        """The launcher settings, as recorded in a sweep's manifest."""
        return {"backend": self.backend, "max_parallel": self.max_parallel, "gpus": list(self.gpus),
                "runs_per_task": self.runs_per_task, "start": self.start, "wait": self.wait,
                "slurm": dict(self.slurm)}

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Hydra's launcher API (another sweeper calls it): one call, results in run order."""
        from hydraflow_core.plan import number_runs, pack

        runs = number_runs([[list(o) for o in job_overrides]], initial_job_idx)
        results = {}
        try:
            for number, result in self.run_tasks(pack(runs, self.runs_per_task), len(job_overrides)):
                results[number] = result
        except KeyboardInterrupt:
            import signal

            results.update(self.stop(signal.SIGINT))
            raise
        finally:
            self.close()
        return [results[initial_job_idx + i] for i in range(len(job_overrides))]

    def run_tasks(self, tasks: Iterable[Any], total: int, events: Any = None) -> Iterator[Tuple[int, JobReturn]]:
        """Run the tasks of a run plan (pulled lazily); yield ``(run number, JobReturn)`` as runs end.

        The hydraflow sweeper streams a whole sweep through this; ``events``
        (the manifest's event log) gets every run's start and end, written by
        the process that runs it.
        """
        from hydra.core.utils import configure_log, setup_globals

        from hydraflow_core.executors import LocalExecutor

        from ._local import HydraRuns, as_job_return

        assert self.ctx is not None, "setup() was not called"
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        self.ctx.keep_configs = self.keep_configs
        if self.backend == "slurm":
            from ._slurm import run_on_slurm

            yield from run_on_slurm(self, self._logged(tasks), total, events)
            return
        if self.start == "exec" and events is not None:  # a fresh interpreter per task, through replay
            from ._exec import run_exec

            log.info(f"Launching {total} jobs locally on {self.max_parallel} fresh interpreter(s)")
            yield from run_exec(self, self._logged(tasks), events)
            return
        workers = min(self.max_parallel, -(-total // self.runs_per_task)) if total else 1
        where = "in this process" if self.max_parallel == 1 else f"on {workers} worker{'s' * (workers > 1)}"
        log.info(f"Launching {total} jobs locally {where}")
        self.executor = LocalExecutor(function=HydraRuns(self.ctx), max_parallel=self.max_parallel,
                                      gpus=self.gpus, events=events)
        for result in self.executor.stream(self._logged(tasks)):
            yield result.run.number, as_job_return(result)

    def _logged(self, tasks: Iterable[Any], block: int = 1000) -> Iterator[Any]:
        """Runs logged as Hydra's basic launcher logs them: up to ``block`` runs at once, before they run."""
        from hydra.core.utils import filter_overrides

        from hydraflow_core.plan import chunks

        for tasks_block in chunks(tasks, max(1, block // self.runs_per_task)):
            for task in tasks_block:
                for run in task.runs:
                    log.info(f"\t#{run.number} : {' '.join(filter_overrides(run.overrides))}")
            yield from tasks_block

    def stop(self, signum: int) -> Iterator[Tuple[int, JobReturn]]:
        """After a stop signal: the results that still come in, then every worker stopped.

        On Slurm nothing is cancelled: the sweep goes on on the cluster (the sweeper says how to follow it).
        """
        from ._local import as_job_return

        if self.backend == "slurm":
            self.left_running = True
            return
        executor, self.executor = getattr(self, "executor", None), None
        if executor is not None:
            self.machine_error = executor.machine_error
            for result in executor.stop(signum):
                yield result.run.number, as_job_return(result)

    def close(self) -> None:
        """Let the workers go (the hydraflow sweeper calls this when the sweep ends)."""
        executor, self.executor = getattr(self, "executor", None), None
        if executor is not None:
            self.machine_error = executor.machine_error  # kept for the sweeper's summary
            executor.close()
