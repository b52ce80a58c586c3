"""Configs of the hydraflow launcher and sweeper, registered in Hydra's ConfigStore.

`hydra/launcher=hydraflow` lives in package `_global_` so that it can also
register the callback that swaps Hydra's basic sweeper for the hydraflow
sweeper (a launcher config cannot select the sweeper: Hydra settles the
sweeper first). Hydra imports this module at start-up: keep it light.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore

from hydraflow_core.settings import config_class

from .callback import callback_accepted


_LAUNCHER = "hydra_plugins.hydraflow_launcher.launcher.HydraflowLauncher"
#: hydra/launcher=hydraflow: every field of LauncherSettings (hydraflow_core/settings.py: one comment each).
HydraflowLauncherConf = config_class(_LAUNCHER, module=__name__)
#: hydra/launcher=hydraflow_slurm: the same, on Slurm.
HydraflowSlurmLauncherConf = config_class(_LAUNCHER, "HydraflowSlurmLauncherConf", __name__, backend="slurm")


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
