"""`hydra/launcher=hydraflow`: dispatches runs, in-process or to forked workers.

Hydra imports this module at start-up: the heavy parts are imported lazily.
"""

import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from ._settings import LauncherSettingsError, on_slurm_node, slurm_settings, warn

log = logging.getLogger(__name__)

class HydraflowLauncher(Launcher):
    def __init__(self, **values: Any) -> None:
        """``values``: the hydra.launcher.* settings (:class:`~hydraflow_core.settings.LauncherSettings`).

        Checked in setup(): an error raised here would reach the user wrapped by Hydra's instantiate.
        """
        from hydraflow_core.settings import LauncherSettings

        plain = {k: OmegaConf.to_container(v) if OmegaConf.is_config(v) and k != "slurm" else v
                 for k, v in values.items()}
        if "slurm" in plain:  # fields interpolating each run's config are kept as written (per_run)
            plain["slurm"], self.per_run, resolution = slurm_settings(plain["slurm"])
        else:
            self.per_run, resolution = (), []
        self.settings, unknown = LauncherSettings.of(plain)
        self.problems = unknown + resolution
        self.keep_configs = True  # the hydraflow sweeper turns this off for large sweeps
        self.ctx = None
        self.session = None  # the sweep's manifest, once this process launches into it
        self.executor = None  # the last launch's executor: how it ended (left_running, submitted_only ...)
        self.per_task = 1  # runs per task of the last launch (runs_per_task, or fitted to the site's limits)
        self.site = None  # Slurm: the user's limits, read by fitted() (the dry run says the waves they need)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from ._compose import RunComposer
        from ._runs import Context

        from .callback import deferred_slurm

        deferred = deferred_slurm(config)  # fields interpolating each run's config, as written
        if deferred:
            self.settings = replace(self.settings, slurm={**self.settings.slurm, **deferred})
            self.per_run = tuple(sorted(set(self.per_run) | set(deferred)))
        problems = self.problems + self.settings.problems(self.per_run)
        if problems:
            raise LauncherSettingsError("\n".join(f"hydra.launcher: {p}" for p in problems))
        warn(self.settings)
        self.config = config
        self.ctx = Context(hydra_context, task_function, config, RunComposer(hydra_context, config))
        self.session = None

    @property
    def composer(self):
        return self.ctx.composer

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Hydra's launcher API, for any other sweeper (basic, Optuna ...): one batch, results in run order.

        Every call's runs are recorded in the sweep's manifest, as with the hydraflow sweeper.
        """
        from hydraflow_core.errors import HydraflowError
        from hydraflow_core.plan import number_runs

        sweeper = str(OmegaConf.select(self.config, "hydra.sweeper._target_", default=""))
        reads_results = not sweeper.endswith(".BasicSweeper")
        settings = self.settings
        for name, refused in (("wait=false", settings.backend == "slurm" and not settings.wait),
                              ("dry_run=true", settings.dry_run)):
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
        if settings.dry_run or self.executor.submitted_only:  # nothing ran here (the basic sweeper reads no value)
            return [_submitted(list(o)) for o in job_overrides]
        earlier = self.session.earlier if self.session is not None else None  # resumed: runs renumbered
        numbers = [initial_job_idx + i for i in range(len(job_overrides))]
        return [results[earlier.renumbered.get(n, n) if earlier else n] for n in numbers]

    def dispatch(self, runs: Iterable[Any], total: Optional[int], take: Callable[[Any], None],
                 sweeper: Optional[dict] = None) -> None:
        """Plan, record and run ``runs`` (pulled lazily): each run's RunResult goes to ``take`` as it ends.

        The sweep's :class:`~hydraflow_core.session.Session` records and
        dispatches them (failed runs again, up to ``max_retries``); a stop
        signal raises :class:`~hydraflow_core.executors.Stopped` after the late
        results went to ``take``. :attr:`executor` is then asked how it ended.
        """
        from hydra.core.utils import configure_log, setup_globals

        from hydraflow_core.earlier import Earlier
        from hydraflow_core.manifest import has_manifest, read as manifest_read
        from hydraflow_core.plan import pack
        from hydraflow_core.session import Session

        from ._plan import Planner, dry_run

        assert self.ctx is not None, "setup() was not called"
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        self.executor = None
        settings = self.settings
        shown = str(self.config.hydra.sweep.dir)
        sweep_dir = Path(shown).absolute()
        if settings.dry_run:
            if settings.resume and has_manifest(sweep_dir):  # what a resume would run, nothing recorded
                runs, total = self._resumed(Earlier.of(manifest_read(sweep_dir)), shown, runs, lambda _: None)
            self.per_task = self.fitted(total)
            dry_run(self, runs, total)
            return
        if self.session is None:
            self.session = Session(sweep_dir, settings.recorded(), resume=settings.resume)
        self.session.open({"kind": "launch", "runs": total, "argv": sys.argv},
                          lambda: sweep_header(self.config, settings.recorded(), sweeper or {}, total))
        if self.session.earlier is not None:
            runs, total = self._resumed(self.session.earlier, shown, runs, take)
        self.per_task = self.fitted(total)
        self.ctx.keep_configs = self.keep_configs
        work, where = self._work(total)
        log.info(f"Launching {total if total is not None else 'the'} jobs {where}")
        gpus, cpus = self._shares()
        options = settings.options(str(self.config.hydra.job.name), self.per_run, gpus, cpus)
        if settings.backend == "slurm":
            runs = Planner(self).resolved(runs)
        tasks = self._logged(self.session.planned(pack(runs, self.per_task)))
        try:
            self.session.dispatch(settings.backend, work, options, tasks, take, settings.max_retries,
                                  lambda again: self._logged(pack(again, self.per_task)))
        finally:
            self.executor = self.session.executor

    @staticmethod
    def _resumed(earlier: Any, shown: str, runs: Iterable[Any], take: Callable[[Any], None]) -> Tuple[List[Any], int]:
        """The runs a resumed sweep runs (renumbered); each run that completed earlier goes to ``take`` as its
        recorded result (its directory and value), not run again."""
        from hydraflow_core.executors import COMPLETED, RunResult

        to_run = []
        for run, record in earlier.place(runs):
            if record is None:
                to_run.append(run)
                continue
            take(RunResult(run, COMPLETED, returned=record.extra.get("return_value"), log=record.log,
                           output_dir=record.output_dir, job_id=record.job_id, started=record.started))
        log.info(earlier.said(shown, len(to_run)))
        return to_run, len(to_run)

    def fitted(self, total: Optional[int]) -> int:
        """Runs per task: the setting; left unset, on Slurm, as many as the user's limit on queued jobs needs
        (:mod:`hydraflow_core.executors.slurm.limits`, read before any run is composed), else 1."""
        settings = self.settings
        if settings.backend != "slurm":
            return settings.runs_per_task or 1
        from hydraflow_core.executors.slurm import limits

        site = self.site = limits.read(account=settings.slurm.get("account"), qos=settings.slurm.get("qos"))
        per_task, said = limits.fit(total, settings.runs_per_task, site)
        if said:
            log.info(said)
        if settings.max_parallel is not None and site.max_running is not None and settings.max_parallel > site.max_running:
            log.warning(f"hydraflow: max_parallel={settings.max_parallel} is above {site.said('max_running')}: "
                        f"at most {site.max_running} tasks run at once")
        return per_task

    def _shares(self) -> Tuple[tuple, tuple]:
        """The workers' GPUs and CPUs: the gpus setting; in a Slurm task's replayed app with
        parallel_per_task, shares of the task's own (as the node path hands them out)."""
        settings = self.settings
        if settings.backend == "local" and settings.parallel_per_task > 1 and on_slurm_node():
            from hydraflow_core.executors.local.shares import node_shares

            shares = node_shares(settings.parallel_per_task)
            return shares.gpus, shares.cpus
        return settings.gpu_ids(), ()

    def _work(self, total: Optional[int]) -> Tuple[Any, str]:
        """What each task runs: this app's runs (in-process or forked), the function imported again on a
        Slurm node (:mod:`._node`), or the app again (exec; Slurm, where the function cannot be imported)."""
        from hydraflow_core.executors import FunctionWork, ReplayWork

        from ._runs import HydraRuns

        settings = self.settings
        if settings.backend == "slurm" or settings.start == "exec":
            parallel = settings.parallel_per_task if settings.backend == "slurm" else 1
            extra = ["hydra.launcher.backend=local", f"hydra.launcher.max_parallel={parallel}",
                     "hydra.launcher.start=fork", "hydra.launcher.runs_per_task=1",
                     f"hydra.launcher.parallel_per_task={parallel}",
                     "hydra.launcher.max_retries=0"]  # retries are this launch's business
            if settings.backend == "local":  # each run's limit is kept by this process (on Slurm by the task's app)
                extra.append("hydra.launcher.timeout_min=null")
            argv, cwd = self.session.replay_command(extra)
            replay = ReplayWork(str(self.session.sweep_dir), tuple(argv), cwd, self.session.replay_env())
            if settings.backend != "slurm":
                return replay, f"locally on {settings.workers} fresh interpreter(s)"
            from ._node import node_work

            return node_work(self.ctx, self.session.sweep_dir, self.session.events.attempt, replay, parallel,
                             settings.timeout), "on Slurm"
        from ._lean import forewarn

        forewarn(self.config)  # in this process, before any worker forks: said once
        workers = min(settings.workers, -(-total // self.per_task)) if total else settings.workers
        here = settings.workers == 1 and settings.timeout is None  # a run in this process could not be stopped
        where = "in this process" if here else f"on {workers} worker{'s' * (workers > 1)}"
        return FunctionWork(HydraRuns(self.ctx)), f"locally {where}"

    def _logged(self, tasks: Iterable[Any], block: int = 1000) -> Iterator[Any]:
        """Runs logged as Hydra's basic launcher logs them: up to ``block`` runs at once, before they run."""
        from hydra.core.utils import filter_overrides

        from hydraflow_core.plan import chunks

        for tasks_block in chunks(tasks, max(1, block // self.per_task)):
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
