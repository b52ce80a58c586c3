"""The launcher's settings: names, checks, and the slurm.* fields as the launcher holds them. Light.

Hydra imports the launcher at start-up: nothing heavy here either.
"""

import logging
import re
from typing import Any, Dict, List, Tuple

from hydra.errors import CompactHydraException
from omegaconf import OmegaConf

log = logging.getLogger("hydra_plugins.hydraflow_launcher.launcher")

BACKENDS = ("local", "slurm")
FIELDS = ("backend", "max_parallel", "gpus", "runs_per_task", "parallel_per_task", "start", "wait", "dry_run",
          "max_retries", "timeout_min", "slurm")
STARTS = ("fork", "exec")


class LauncherSettingsError(CompactHydraException):
    """Bad hydra.launcher.* values: Hydra prints the message alone."""


# A GPU id as CUDA_VISIBLE_DEVICES takes it: an index, or a GPU / MIG UUID.
_GPU_ID = re.compile(r"[0-9]+|(GPU|MIG)-[0-9A-Za-z/-]+")


def timeout_problems(minutes: Any) -> List[str]:
    if minutes is None:
        return []
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 < minutes < float("inf"):
        return [f"timeout_min must be a positive number of minutes (e.g. 30 or 0.5), or null for no limit, "
                f"not {minutes!r}"]
    return []


def gpu_problems(gpus: Any) -> List[str]:
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


def check(launcher: Any) -> None:
    """Every bad hydra.launcher.* value in one LauncherSettingsError; warnings for doubtful ones."""
    problems = []
    if launcher.unknown:
        problems.append(f"unknown field {', '.join(sorted(launcher.unknown))} (valid fields: {', '.join(FIELDS)})")
    if launcher.backend not in BACKENDS:
        problems.append(f"backend must be one of: {', '.join(BACKENDS)}, not {launcher.backend!r}")
    for name, least in (("max_parallel", 1), ("runs_per_task", 1), ("parallel_per_task", 1), ("max_retries", 0)):
        value = getattr(launcher, name)
        if name == "max_parallel" and value is None:
            continue  # the backend's default: 1 here, slurm.array_parallelism on Slurm
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            problems.append(f"{name} must be a whole number of at least {least}, not {value!r}")
    problems.extend(gpu_problems(launcher.raw_gpus))
    from hydraflow_core.executors.slurm.fields import problems as slurm_problems

    problems.extend(launcher.slurm_problems)
    problems.extend(slurm_problems({k: v for k, v in launcher.slurm.items() if k not in launcher.per_run}))
    if launcher.start not in STARTS:
        problems.append(f"start must be one of: {', '.join(STARTS)}, not {launcher.start!r}")
    for name in ("wait", "dry_run"):
        if not isinstance(getattr(launcher, name), bool):
            problems.append(f"{name} must be true or false, not {getattr(launcher, name)!r}")
    problems.extend(timeout_problems(launcher.timeout_min))
    if problems:
        raise LauncherSettingsError("\n".join(f"hydra.launcher: {p}" for p in problems))
    if launcher.backend == "local" and launcher.parallel_per_task > 1 and not on_slurm_node():
        log.warning(f"hydraflow: parallel_per_task={launcher.parallel_per_task} applies to Slurm tasks; "
                    f"here max_parallel runs runs at once")
    repeated = sorted({g for g in launcher.gpus if launcher.gpus.count(g) > 1})
    if repeated:
        log.warning(f"hydraflow: hydra.launcher.gpus names {', '.join(repeated)} more than once: "
                    f"workers given the same id share that GPU")
    if launcher.gpus and launcher.workers > len(launcher.gpus):
        log.warning(f"hydraflow: {launcher.workers} workers share {len(launcher.gpus)} GPUs "
                    f"({', '.join(launcher.gpus)}), handed out in turn")



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
