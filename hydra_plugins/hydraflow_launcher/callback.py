"""The callback `hydra/launcher=hydraflow` registers: it swaps Hydra's basic sweeper
for the hydraflow sweeper, so that selecting the launcher alone gives the
extended syntax. An explicitly chosen other sweeper (optuna, ...) is kept.
In a single run (no -m) it warns about values written in the extended syntax,
which Hydra then takes as plain text."""

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
        if _replaying() and str(sweeper.get("_target_")) != HYDRAFLOW_SWEEPER:
            # A replay of recorded runs (retry, a Slurm task) of a sweep made behind another sweeper
            # (basic, Optuna ...): only the hydraflow sweeper runs exactly the recorded runs.
            with open_dict(config.hydra):
                config.hydra.sweeper = {"_target_": HYDRAFLOW_SWEEPER}
            return
        if not _is_basic_sweeper(str(sweeper.get("_target_"))):
            return
        if config.hydra.runtime.choices.get("hydra/sweeper") not in (None, "basic"):
            return  # pragma: no cover - another sweeper built on BasicSweeper
        if _basic_chosen_explicitly(config):
            log.info("hydraflow: keeping the basic sweeper chosen with hydra/sweeper=basic")
            return
        with open_dict(sweeper):
            sweeper._target_ = HYDRAFLOW_SWEEPER
        log.info("hydraflow: using the hydraflow sweeper (extended sweep syntax)")


    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        for override in config.hydra.overrides.task:
            meant = _extended_meaning(str(override))
            if meant:
                log.warning(f"hydraflow: {override} means {meant} in hydraflow's sweep syntax, but without -m "
                            f"Hydra runs once with the text as written: add -m (--multirun) to sweep")


def _replaying() -> bool:
    import os

    return bool(os.environ.get("HYDRAFLOW_REPLAY"))


def _is_basic_sweeper(target: str) -> bool:
    """Hydra's basic sweeper, by its 1.3 path or (should Hydra move it) by its class name in hydra.*."""
    return target == BASIC_SWEEPER or (target.startswith("hydra.") and target.endswith(".BasicSweeper"))


def _extended_meaning(override: str) -> str:
    """What the extended syntax makes of ``override`` ('3 values', 'a pipe', 'the value 0.005'),
    or '' when it means what Hydra reads (one value, as written)."""
    key, equals, value = override.partition("=")
    if not equals:
        return ""
    try:
        from hydraflow_core.syntax import parse_sweep

        space = parse_sweep([override])
    except Exception:  # not hydraflow syntax either: Hydra's reading is all there is
        return ""
    (parsed,) = space.overrides
    if parsed.piped:
        return f"a pipe of {len(parsed.sections)} sub-sweeps"
    if parsed.count() != 1:
        return f"{parsed.count()} values"
    (axis,) = parsed.sections
    written = axis[0].partition("=")[2]
    if written.strip() != value.strip():
        return f"the value {written}"
    return ""


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
