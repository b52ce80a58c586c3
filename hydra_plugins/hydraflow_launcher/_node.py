"""The node path of a Slurm sweep: each array task runs the task function, imported again on its node, on
each run's config saved at submission -- no second Python, no Hydra start-up, no composition, nothing pickled.

At submission (:func:`node_work`, from the launcher's ``_work``): where the task
function can be found again by import (:mod:`hydraflow_core.executors.locate`), the runs' configs are
written just before their array is submitted, to
``SWEEP_DIR/.hydraflow/node/<attempt>/<run>.yaml`` (:mod:`hydraflow_core.executors.saved`), and the
array's spec says kind "function". Where it cannot (one log line says why),
the tasks replay: the app starts again on the node, as ``hydraflow retry``
starts it.

On the node (:func:`run_task`, called by
:class:`~hydraflow_core.executors.slurm.node.NodeTask`): Hydra's globals, the
function imported, the runs that still need to run (a requeued task skips
those that completed and those a later attempt owns), their configs read and
typed again -- all before any run starts, so that anything missing makes the
task replay instead -- then the runs through the local executor, exactly as
the replayed app runs them: :class:`~._runs.HydraRuns` (Hydra's ``run_job``:
output directory, ``.hydra/``, job logging, the ``hydra.callbacks``' job
events), a start and an end record each, ``parallel_per_task`` at once on
forked workers, each with its share of the task's GPUs and CPUs.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from omegaconf import DictConfig, OmegaConf

from hydraflow_core.executors import COMPLETED, CannotRunOnNode, FunctionWork, NodeWork, Options, create, drain
from hydraflow_core.executors.local.shares import node_shares
from hydraflow_core.executors.locate import load_function, where
from hydraflow_core.manifest import NODE, EventLog, folder, replay, slurm_ids
from hydraflow_core.plan import Run, pack

from ._configs import ConfigWriter, SavedConfigs
from ._runs import Context, HydraRuns

log = logging.getLogger(__name__)

#: What NodeTask imports and calls on the node.
RUNNER = "hydra_plugins.hydraflow_launcher._node:run_task"
#: ``replay`` makes a sweep's Slurm tasks start the app again (an app that sets things up in its
#: ``if __name__ == "__main__":`` block, which the node path does not run).
START_ENV = "HYDRAFLOW_SLURM_START"


def node_work(ctx: Context, sweep_dir: Path, attempt: int, fallback: Any, parallel: int,
              timeout: Optional[float] = None) -> Any:
    """The work of a Slurm sweep's tasks: the node path, or ``fallback`` (a replay) with the reason logged."""
    try:
        if os.environ.get(START_ENV, "").strip().lower() == "replay":
            raise CannotRunOnNode(f"{START_ENV}=replay")
        function = where(ctx.task_function)
    except CannotRunOnNode as why:
        log.info(f"hydraflow: Slurm tasks start the app again (replay): {why}")
        return fallback
    function["task_name"] = _task_name()
    directory = folder(sweep_dir, NODE, str(attempt))
    writer = ConfigWriter(HydraRuns(ctx), str(sweep_dir), directory)
    log.info(f"hydraflow: Slurm tasks import {_shown(function)} and run each run's saved config "
             f"(no app start-up on the node)")
    return NodeWork(RUNNER, function, writer.write, str(directory), fallback, parallel, timeout)


def _shown(function: Mapping[str, Any]) -> str:
    """'train of train.py', 'pkg.app.main': the task function as the node finds it."""
    main = function["main"] or {}
    if function["module"] != "__main__":
        return f"{function['module']}.{function['qualname']}"
    if "file" in main:
        return f"{function['qualname']} of {os.path.basename(main['file'])}"
    return f"{main['module']}.{function['qualname']}"


def _task_name() -> Optional[str]:
    """The name Hydra gave this app's job (its JobReturns' task_name)."""
    from hydra.core.utils import JobRuntime

    try:
        return str(JobRuntime.instance().get("name"))
    except KeyError:
        return None


class JobCallbacks:
    """The ``hydra.callbacks``, instantiated once and told of each job as Hydra tells them: ``on_job_start``,
    then ``on_job_end`` in reverse order; an exception of a callback is a warning, not a failed run."""

    def __init__(self, config: DictConfig) -> None:
        from hydra.utils import instantiate

        self.callbacks: List[Any] = []
        if OmegaConf.select(config, "hydra.callbacks"):
            for params in config.hydra.callbacks.values():
                self.callbacks.append(instantiate(params))

    def _notify(self, name: str, reverse: bool = False, **kwargs: Any) -> None:
        for callback in reversed(self.callbacks) if reverse else self.callbacks:
            try:
                getattr(callback, name)(**kwargs)
            except Exception as error:
                warnings.warn(f"Callback {type(callback).__name__}.{name} raised {type(error).__name__}: {error}")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_job_start", config=config, **kwargs)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self._notify("on_job_end", reverse=True, config=config, job_return=job_return, **kwargs)


def run_task(spec_path: str, spec: Mapping[str, Any], index: int) -> int:
    """Task ``index`` of a "function" spec, here: 0 when every run of it that had to run completed.

    Raises CannotRunOnNode (before any run starts) where the task must replay instead.
    """
    from hydra.core.utils import setup_globals

    setup_globals()  # Hydra's resolvers (now, hydra, python_version), as at an app's start
    function = load_function(spec["function"])
    sweep_dir = Path(spec["sweep_dir"])
    attempt = int(spec.get("attempt") or 1)
    task = replay.ReplaySpec(str(sweep_dir), tuple(int(n) for n in spec["tasks"][index]), "task", attempt)
    if int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0:  # requeued: its completed runs are skipped
        groups, subdirs = replay.replay_runs(task, sweep_dir)
        runs = [run for group in groups for run in group]
    else:  # its first start: the plan says it all (the events of a large sweep are thousands of files)
        runs, subdirs = replay.first_runs(task, sweep_dir), {}
    if not runs:  # requeued after every run completed, or a later attempt owns them
        return 0
    configs = SavedConfigs.read(Path(spec["configs"]), runs, spec["function"].get("main"))
    os.chdir(spec["cwd"])  # where the app was started (a replay starts it there)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return _run(function, configs, runs, subdirs, spec, attempt)
    finally:  # Hydra's logging set up for the runs: submitit's own lines after them are not printed twice
        root.handlers[:] = handlers
        root.setLevel(level)


def _run(function: Any, configs: SavedConfigs, runs: List[Run], subdirs: Dict[int, str], spec: Mapping[str, Any],
         attempt: int) -> int:
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import JobRuntime, configure_log
    from hydra.types import HydraContext

    first = configs.configs[runs[0].number]
    JobRuntime.instance().set("name", spec["function"].get("task_name") or str(first.hydra.job.name))
    HydraConfig.instance().set_config(copy.deepcopy(first))  # Hydra holds the sweep's config between runs
    configure_log(first.hydra.hydra_logging, first.hydra.verbose)
    ctx = Context(HydraContext(config_loader=None, callbacks=JobCallbacks(first)), function, first, configs,
                  keep_configs=False)
    ctx.subdirs.update(subdirs)  # a requeued run writes where it wrote before
    job_id, ids = slurm_ids()
    events = EventLog(spec["sweep_dir"], attempt, job_id=job_id, details=ids)
    parallel = int(spec.get("parallel") or 1)
    shares = node_shares(parallel)
    executor = create("local", FunctionWork(HydraRuns(ctx)), Options(
        max_parallel=parallel, gpus=shares.gpus, cpus=shares.cpus, timeout=spec.get("timeout")), events)
    results: List[Any] = []
    drain(executor, pack(runs, 1), results.append)
    failed = [r for r in results if r.state != COMPLETED]
    for result in failed:
        sys.stderr.write(f"hydraflow: run #{result.run.number} {result.state}: {result.error} (log: {result.log})\n")
    if executor.machine_error:
        sys.stderr.write(f"hydraflow: {executor.machine_error}\n")
    return 1 if failed or executor.machine_error or len(results) < len(runs) else 0
