"""Configs of the hydraflow launcher and sweeper, registered in Hydra's ConfigStore.

`hydra/launcher=hydraflow` lives in package `_global_` so that it can also
register the callback that swaps Hydra's basic sweeper for the hydraflow
sweeper (a launcher config cannot select the sweeper: Hydra settles the
sweeper first). Hydra imports this module at start-up: keep it light.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore

from .callback import callback_accepted


def _slurm_defaults() -> Dict[str, Any]:
    from hydraflow_core.executors.slurm.fields import DEFAULTS

    return dict(DEFAULTS)


@dataclass
class HydraflowLauncherConf:
    _target_: str = "hydra_plugins.hydraflow_launcher.launcher.HydraflowLauncher"
    # where batches execute: "local" (this machine) or "slurm" (job arrays through submitit)
    backend: str = "local"
    # tasks run at once. Local: null or 1 runs every run in this process, like Hydra's basic launcher;
    # Slurm: the arrays' %N (null: slurm.array_parallelism)
    max_parallel: Optional[int] = None
    # GPU ids handed out one per worker through CUDA_VISIBLE_DEVICES (empty: left alone)
    gpus: List[Any] = field(default_factory=list)
    # consecutive runs packed into one batch (one task of a worker) when the sweeper gave no grouping
    runs_per_task: int = 1
    # slurm: runs of one array task run at once on its node, each with its share of the task's GPUs and CPUs
    parallel_per_task: int = 1
    # local: how workers start: "fork" (forked from this process) or "exec" (a fresh interpreter per task)
    start: str = "fork"
    # slurm: block until every run has ended (true), or return once the arrays are submitted (false)
    wait: bool = True
    # compose every run and print the plan (Slurm: arrays, settings, sbatch scripts); submit and run nothing
    dry_run: bool = False
    # a run that failed, timed out, ran out of memory or was lost is run again up to this many times
    max_retries: int = 0
    # maximum time of one run in minutes, then it is stopped and recorded as timed out (null: no limit).
    # Local runs; on Slurm it limits each run inside an array task (slurm.timeout_min limits the task)
    timeout_min: Optional[float] = None
    # slurm: the submitit Slurm parameters (hydra-submitit-launcher's names; README "Running on Slurm");
    # a field may interpolate the run's own config (${model.gpus}): resolved per run
    slurm: Dict[str, Any] = field(default_factory=_slurm_defaults)


@dataclass
class UseHydraflowSweeperConf:
    _target_: str = "hydra_plugins.hydraflow_launcher.callback.UseHydraflowSweeper"


@dataclass
class HydraflowSweeperConf:
    _target_: str = "hydra_plugins.hydraflow_launcher.sweeper.HydraflowSweeper"
    # sweeps kept in the config, `key: expr` in the extended syntax, placed before the command line's
    params: Dict[str, Any] = field(default_factory=dict)
    # a job definition of hydraflow.yaml: each of its batches becomes one batch group
    job: Optional[str] = None
    # the job file for `job` (default: hydraflow.yaml in the directory Hydra started in)
    file: Optional[str] = None
    # most runs handed to the launcher in one call (default: a whole batch group, streamed in chunks)
    max_batch_size: Optional[int] = None


@dataclass
class HydraflowSlurmLauncherConf(HydraflowLauncherConf):
    backend: str = "slurm"


def _launcher_node(conf: type, with_swap: bool) -> Dict[str, Any]:
    """`hydra/launcher=...`'s node: the launcher, and the sweeper swap callback where Hydra accepts it.

    Hydra builds the callbacks of every run, single runs included, and a Hydra
    that refuses a callback's target (1.5) stops the app: there the callback is
    left out, and the extended syntax needs hydra/sweeper=hydraflow.
    """
    hydra: Dict[str, Any] = {"launcher": conf}
    if with_swap:
        hydra["callbacks"] = {"hydraflow_sweeper": UseHydraflowSweeperConf}
    return {"hydra": hydra}


_store = ConfigStore.instance()
_store.store(group="hydra/sweeper", name="hydraflow", node=HydraflowSweeperConf, provider="hydraflow")
_with_swap = callback_accepted()
for _name, _conf in (("hydraflow", HydraflowLauncherConf), ("hydraflow_slurm", HydraflowSlurmLauncherConf)):
    _store.store(group="hydra/launcher", name=_name, package="_global_", provider="hydraflow",
                 node=_launcher_node(_conf, _with_swap))
