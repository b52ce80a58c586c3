"""The callback `hydra/launcher=hydraflow` registers: it swaps Hydra's basic sweeper
for the hydraflow sweeper, so that selecting the launcher alone gives the
extended syntax. An explicitly chosen other sweeper (optuna, ...) is kept."""

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
HYDRAFLOW_SWEEPER = "hydra_plugins.hydraflow_launcher.sweeper.HydraflowSweeper"


class UseHydraflowSweeper(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweeper = config.hydra.sweeper
        if sweeper.get("_target_") != BASIC_SWEEPER:
            return
        if config.hydra.runtime.choices.get("hydra/sweeper") not in (None, "basic"):
            return  # pragma: no cover - another sweeper built on BasicSweeper
        if _basic_chosen_explicitly(config):
            log.info("hydraflow: keeping the basic sweeper chosen with hydra/sweeper=basic")
            return
        with open_dict(sweeper):
            sweeper._target_ = HYDRAFLOW_SWEEPER
        log.info("hydraflow: using the hydraflow sweeper (extended sweep syntax)")


def _basic_chosen_explicitly(config: DictConfig) -> bool:
    """True when hydra/sweeper=basic was chosen on purpose: on the command line or as an
    `override hydra/sweeper: basic` in the primary config's defaults."""
    hydra_overrides = list(config.hydra.overrides.hydra)
    if any(o.replace(" ", "").lstrip("+") == "hydra/sweeper=basic" for o in hydra_overrides):
        return True
    try:
        from hydra.core.global_hydra import GlobalHydra
        from hydra.types import RunMode

        loader = GlobalHydra.instance().hydra.config_loader
        defaults = loader.compute_defaults_list(
            config.hydra.job.config_name, hydra_overrides + list(config.hydra.overrides.task), RunMode.MULTIRUN
        )
        return "hydra/sweeper" in defaults.overrides.override_choices
    except Exception:  # pragma: no cover - Hydra internals changed: keep the command-line check
        return False
