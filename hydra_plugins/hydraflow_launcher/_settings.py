"""The launcher's settings at the Hydra boundary: the slurm.* fields as the launcher holds them, warnings.

The settings themselves, their checks and defaults: :mod:`hydraflow_core.settings`.

Hydra imports the launcher at start-up: nothing heavy here either.
"""

import logging
from typing import Any, Dict, List, Tuple

from hydra.errors import CompactHydraException
from omegaconf import OmegaConf

log = logging.getLogger("hydra_plugins.hydraflow_launcher.launcher")

class LauncherSettingsError(CompactHydraException):
    """Bad hydra.launcher.* values: Hydra prints the message alone."""


def warn(settings: Any) -> None:
    """Warnings for settings that are valid but doubtful."""
    if settings.backend == "local" and settings.parallel_per_task > 1 and not on_slurm_node():
        log.warning(f"hydraflow: parallel_per_task={settings.parallel_per_task} applies to Slurm tasks; "
                    f"here max_parallel runs runs at once")
    gpus = list(settings.gpu_ids())
    repeated = sorted({g for g in gpus if gpus.count(g) > 1})
    if repeated:
        log.warning(f"hydraflow: hydra.launcher.gpus names {', '.join(repeated)} more than once: "
                    f"workers given the same id share that GPU")
    if gpus and settings.workers > len(gpus):
        log.warning(f"hydraflow: {settings.workers} workers share {len(gpus)} GPUs "
                    f"({', '.join(gpus)}), handed out in turn")


def slurm_settings(slurm: Any) -> Tuple[Dict[str, Any], Tuple[str, ...], List[str]]:
    """``(settings, per_run, problems)``: the slurm.* fields resolved against the sweep's config, except
    those that interpolate each run's own config (``per_run``, kept as written, resolved per run)."""
    from hydraflow_core.executors.slurm.resources import interpolated_fields

    if not OmegaConf.is_config(slurm):
        return dict(slurm or {}), (), []
    raw = OmegaConf.to_container(slurm, resolve=False)
    per_run = interpolated_fields(raw)
    settings: Dict[str, Any] = {}
    problems = []
    for name, written in raw.items():
        if name in per_run:
            settings[name] = written
            continue
        try:
            value = slurm[name]
        except Exception as error:  # noqa: BLE001 - OmegaConf's resolution errors
            problems.append(f"slurm.{name}={written} cannot be resolved: {str(error).splitlines()[0]}")
            continue
        settings[name] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return settings, per_run, problems


def on_slurm_node() -> bool:
    """True in a Slurm task's replayed app (NodeTask sets this; kept light: no import of the Slurm backend)."""
    import os

    return bool(os.environ.get("HYDRAFLOW_SLURM_NODE"))
