"""`hydra/launcher=hydraflow`: dispatches runs, in-process or to forked workers.

Hydra imports this module at start-up: the heavy parts are imported lazily.
"""

import logging
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from ._settings import LauncherSettingsError, check, on_slurm_node, slurm_settings

log = logging.getLogger(__name__)

class HydraflowLauncher(Launcher):
    def __init__(self, backend: str = "local", max_parallel: Optional[int] = None, gpus: Any = (),
                 runs_per_task: int = 1, start: str = "fork", wait: bool = True, dry_run: bool = False,
                 max_retries: int = 0, slurm: Any = None, timeout_min: Optional[float] = None,
                 parallel_per_task: int = 1, **unknown: Any) -> None:
        # Checked in setup(): an error raised here would reach the user wrapped by Hydra's instantiate.
        self.backend, self.max_parallel, self.runs_per_task, self.unknown = backend, max_parallel, runs_per_task, unknown
        self.wait = wait
        self.start = start
        self.dry_run, self.max_retries = dry_run, max_retries
        self.timeout_min = timeout_min
        self.parallel_per_task = parallel_per_task
        self.slurm, self.per_run, self.slurm_problems = slurm_settings(slurm)
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
        self.session = None  # the sweep's manifest, once this process launches into it
        self.executor = None  # the last launch's executor: how it ended (left_running, submitted_only ...)

    def _check_settings(self) -> None:
        check(self)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from ._compose import RunComposer
        from ._runs import Context

        from .callback import deferred_slurm

        deferred = deferred_slurm(config)  # fields interpolating each run's config, as written
        if deferred:
            self.slurm.update(deferred)
            self.per_run = tuple(sorted(set(self.per_run) | set(deferred)))
        self._check_settings()
        self.config = config
        self.ctx = Context(hydra_context, task_function, config, RunComposer(hydra_context, config))
        self.session = None

    @property
    def workers(self) -> int:
        """Local: how many tasks run at once (1: in this process, unless runs have a time limit)."""
        return self.max_parallel or 1

    @property
    def timeout(self) -> Optional[float]:
        """Seconds one run may take (``timeout_min``), None: no limit."""
        return None if self.timeout_min is None else float(self.timeout_min) * 60

    @property
    def composer(self):
        return self.ctx.composer

    def settings(self) -> dict:
        """The launcher settings, as recorded in a sweep's manifest."""
        return {"backend": self.backend, "max_parallel": self.max_parallel, "gpus": list(self.gpus),
                "runs_per_task": self.runs_per_task, "parallel_per_task": self.parallel_per_task,
                "start": self.start, "wait": self.wait,
                "max_retries": self.max_retries, "timeout_min": self.timeout_min, "slurm": dict(self.slurm)}

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Hydra's launcher API, for any other sweeper (basic, Optuna ...): one batch, results in run order.

        Every call's runs are recorded in the sweep's manifest, as with the hydraflow sweeper.
        """
        from hydraflow_core.errors import HydraflowError
        from hydraflow_core.plan import number_runs

        sweeper = str(OmegaConf.select(self.config, "hydra.sweeper._target_", default=""))
        reads_results = not sweeper.endswith(".BasicSweeper")
        for name, refused in (("wait=false", self.backend == "slurm" and not self.wait), ("dry_run=true", self.dry_run)):
            if refused and reads_results:
                raise LauncherSettingsError(
                    f"hydra.launcher: {name} needs a sweeper that does not read the runs' results (the hydraflow "
                    f"or Hydra's basic sweeper), not {sweeper}: it would get no results to go on with")
        from ._runs import as_job_return

        runs = number_runs([[list(o) for o in job_overrides]], initial_job_idx)
        results = {}

        def take(result: Any) -> None:
            results[result.run.number] = as_job_return(result)

        try:
            self.dispatch(runs, len(job_overrides), take, {"_target_": sweeper})
        except HydraflowError as error:  # a claim held by another launch, a refused submission, a bad resource
            import sys

            sys.stderr.write(f"hydraflow: error: {error}\n")
            raise SystemExit(2) from None
        if self.dry_run or self.executor.submitted_only:  # nothing ran here (the basic sweeper reads no value)
            return [_submitted(list(o)) for o in job_overrides]
        return [results[initial_job_idx + i] for i in range(len(job_overrides))]

    def dispatch(self, runs: Iterable[Any], total: Optional[int], take: Callable[[Any], None],
                 sweeper: Optional[dict] = None) -> None:
        """Plan, record and run ``runs`` (pulled lazily): each run's RunResult goes to ``take`` as it ends.

        The sweep's :class:`~hydraflow_core.session.Session` records and
        dispatches them (failed runs again, up to ``max_retries``); a stop
        signal raises :class:`~hydraflow_core.executors.Stopped` after the late
        results went to ``take``. :attr:`executor` is then asked how it ended.
        """
        from hydra.core.utils import configure_log, setup_globals

        from hydraflow_core.executors import Options
        from hydraflow_core.plan import pack
        from hydraflow_core.session import Session

        from ._plan import Planner, dry_run

        assert self.ctx is not None, "setup() was not called"
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        self.executor = None
        if self.dry_run:
            dry_run(self, runs, total)
            return
        if self.session is None:
            self.session = Session(Path(str(self.config.hydra.sweep.dir)), self.settings())
        self.session.open({"kind": "launch", "runs": total, "argv": sys.argv},
                          lambda: sweep_header(self.config, self.settings(), sweeper or {}, total))
        self.ctx.keep_configs = self.keep_configs
        work, where = self._work(total)
        log.info(f"Launching {total if total is not None else 'the'} jobs {where}")
        base = {k: v for k, v in self.slurm.items() if k not in self.per_run}
        gpus, cpus = self._shares()
        options = Options(max_parallel=self.max_parallel if self.backend == "slurm" else self.workers,
                          gpus=gpus, cpus=cpus, wait=self.wait, slurm=base, timeout=self.timeout,
                          job_name=str(self.slurm.get("job_name") or self.config.hydra.job.name))
        if self.backend == "slurm":
            runs = Planner(self).resolved(runs)
        tasks = self._logged(self.session.planned(pack(runs, self.runs_per_task)))
        try:
            self.session.dispatch(self.backend, work, options, tasks, take, self.max_retries,
                                  lambda again: self._logged(pack(again, self.runs_per_task)))
        finally:
            self.executor = self.session.executor

    def _shares(self) -> Tuple[tuple, tuple]:
        """The workers' GPUs and CPUs: the gpus setting; in a Slurm task's replayed app with
        parallel_per_task, shares of the task's own (as the node path hands them out)."""
        if self.backend == "local" and self.parallel_per_task > 1 and on_slurm_node():
            from hydraflow_core.executors.local.shares import node_shares

            shares = node_shares(self.parallel_per_task)
            return shares.gpus, shares.cpus
        return tuple(self.gpus), ()

    def _work(self, total: Optional[int]) -> Tuple[Any, str]:
        """What each task runs: this app's runs (in-process or forked), the function imported again on a
        Slurm node (:mod:`._node`), or the app again (exec; Slurm, where the function cannot be imported)."""
        from hydraflow_core.executors import FunctionWork, ReplayWork

        from ._runs import HydraRuns

        if self.backend == "slurm" or self.start == "exec":
            parallel = self.parallel_per_task if self.backend == "slurm" else 1
            extra = ["hydra.launcher.backend=local", f"hydra.launcher.max_parallel={parallel}",
                     "hydra.launcher.start=fork", "hydra.launcher.runs_per_task=1",
                     f"hydra.launcher.parallel_per_task={parallel}",
                     "hydra.launcher.max_retries=0"]  # retries are this launch's business
            if self.backend == "local":  # each run's limit is kept by this process (on Slurm by the task's app)
                extra.append("hydra.launcher.timeout_min=null")
            argv, cwd = self.session.replay_command(extra)
            replay = ReplayWork(str(self.session.sweep_dir), tuple(argv), cwd)
            if self.backend != "slurm":
                return replay, f"locally on {self.workers} fresh interpreter(s)"
            from ._node import node_work

            return node_work(self.ctx, self.session.sweep_dir, self.session.events.attempt, replay, parallel,
                             self.timeout), "on Slurm"
        workers = min(self.workers, -(-total // self.runs_per_task)) if total else self.workers
        here = self.workers == 1 and self.timeout is None  # a run in this process could not be stopped
        where = "in this process" if here else f"on {workers} worker{'s' * (workers > 1)}"
        return FunctionWork(HydraRuns(self.ctx)), f"locally {where}"

    def _logged(self, tasks: Iterable[Any], block: int = 1000) -> Iterator[Any]:
        """Runs logged as Hydra's basic launcher logs them: up to ``block`` runs at once, before they run."""
        from hydra.core.utils import filter_overrides

        from hydraflow_core.plan import chunks

        for tasks_block in chunks(tasks, max(1, block // self.runs_per_task)):
            for task in tasks_block:
                for run in task.runs:
                    log.info(f"\t#{run.number} : {' '.join(filter_overrides(run.overrides))}")
            yield from tasks_block

    def close(self) -> None:
        """The end of this process's launches: the sweep's claim is let go."""
        session, self.session = self.session, None
        if session is not None:
            session.close()


def _submitted(overrides: List[str]) -> JobReturn:
    """A placeholder result for a run submitted to Slurm with wait=false (the basic sweeper reads none)."""
    from hydra.core.utils import JobStatus

    return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=None, working_dir=None,
                     task_name=None)


def sweep_header(config: DictConfig, settings: dict, sweeper: dict, total: Optional[int]) -> dict:
    """A new sweep's manifest header: what it is, and how to start its app again (:mod:`~hydraflow_core.manifest.replay`)."""
    from hydraflow_core.manifest import replay

    # As typed: an override may hold an interpolation that only a run can resolve (${hydra.job.num}).
    overrides = {key: [str(o) for o in OmegaConf.to_container(config.hydra.overrides[key], resolve=False)]
                 for key in ("task", "hydra")}
    return {"kind": "sweep", "runs": total, "job_name": str(config.hydra.job.name),
            "launch": replay.launch_record(settings, overrides, str(config.hydra.runtime.cwd)),
            "sweeper": sweeper, "launcher": settings}
