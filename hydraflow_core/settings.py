"""The launcher's settings (``hydra.launcher.*``), declared once. Light: Hydra imports it at start-up.

:class:`LauncherSettings` is the one declaration. The Hydra plugin's config
node is made from its fields (:func:`config_class`), values given to the
launcher are read by :meth:`LauncherSettings.of` (an unknown name gets a
did-you-mean) and checked by :meth:`LauncherSettings.problems` (each field's
check in :data:`CHECKS`), and :meth:`LauncherSettings.options` makes the
executor's :class:`~hydraflow_core.executors.Options`. A new setting is one
field, its comment, and its check.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple


def _slurm_defaults() -> Dict[str, Any]:
    from hydraflow_core.executors.slurm.fields import DEFAULTS

    return dict(DEFAULTS)


@dataclass(frozen=True)
class LauncherSettings:
    # where batches execute: "local" (this machine) or "slurm" (job arrays through submitit)
    backend: str = "local"
    # tasks run at once. Local: null or 1 runs every run in this process, like Hydra's basic launcher;
    # Slurm: the arrays' %N (null: slurm.array_parallelism)
    max_parallel: Optional[int] = None
    # GPU ids handed out one per worker through CUDA_VISIBLE_DEVICES (empty: left alone)
    gpus: List[Any] = field(default_factory=list)
    # consecutive runs packed into one task (of a worker; on Slurm an array task); null: 1, or on Slurm as
    # many as the user's limit on queued jobs needs
    runs_per_task: Optional[int] = None
    # slurm: runs of one array task run at once on its node, each with its share of the task's GPUs and CPUs
    parallel_per_task: int = 1
    # local: how workers start: "fork" (forked from this process) or "exec" (a fresh interpreter per task)
    start: str = "fork"
    # slurm: block until every run has ended (true), or return once the arrays are submitted (false)
    wait: bool = True
    # a sweep into a directory that holds one: run only what did not complete there, new runs numbered
    # after the earlier ones (false: the earlier sweep is moved whole to earlier/<time>/)
    resume: bool = False
    # compose every run and print the plan (Slurm: arrays, settings, sbatch scripts); submit and run nothing
    dry_run: bool = False
    # a run that failed, timed out, ran out of memory or was lost is run again up to this many times
    max_retries: int = 0
    # maximum time of one run in minutes, then it is stopped and recorded as timed out (null: no limit).
    # Local runs; on Slurm it limits each run inside an array task (slurm.timeout_min limits the task)
    timeout_min: Optional[float] = None
    # each run as Hydra's run_job does it, the same files, logs and results, at a fraction of its cost
    # (false: every run through Hydra's own run_job)
    lean: bool = True
    # slurm: the submitit Slurm parameters (hydra-submitit-launcher's names; README "Running on Slurm");
    # a field may interpolate the run's own config (${model.gpus}): resolved per run
    slurm: Dict[str, Any] = field(default_factory=_slurm_defaults)

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Tuple["LauncherSettings", List[str]]:
        """Settings from plain values (defaults for the missing), and a problem for each unknown name."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        known = {k: v for k, v in values.items() if k in names}
        if "gpus" in known:
            known["gpus"] = _gpu_list(known["gpus"])
        return cls(**known), [_unknown(name, names) for name in unknown]

    def problems(self, slurm_as_written: Tuple[str, ...] = ()) -> List[str]:
        """What is wrong with these settings, one line each (``slurm_as_written``: slurm.* fields resolved
        later, per run, so not checked here)."""
        found = []
        for name, check in CHECKS.items():
            value = getattr(self, name)
            if name == "slurm":
                value = {k: v for k, v in value.items() if k not in slurm_as_written}
            found.extend(check(name, value))
        return found

    @property
    def workers(self) -> int:
        """Local: how many tasks run at once (1: in this process, unless runs have a time limit)."""
        return self.max_parallel or 1

    @property
    def timeout(self) -> Optional[float]:
        """Seconds one run may take (``timeout_min``), None: no limit."""
        return None if self.timeout_min is None else float(self.timeout_min) * 60

    def gpu_ids(self) -> Tuple[str, ...]:
        return tuple(str(g).strip() for g in self.gpus)

    def recorded(self) -> Dict[str, Any]:
        """The settings as a sweep's manifest records them (a dry run writes no manifest)."""
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "dry_run"}
        return {**record, "gpus": list(self.gpu_ids()), "slurm": dict(self.slurm)}

    def options(self, job_name: str, slurm_as_written: Tuple[str, ...] = (), gpus: Optional[tuple] = None,
                cpus: tuple = ()) -> Any:
        """The executor's Options (``gpus``/``cpus``: the workers' shares where not the gpus setting)."""
        from hydraflow_core.executors import Options

        return Options(max_parallel=self.max_parallel if self.backend == "slurm" else self.workers,
                       gpus=self.gpu_ids() if gpus is None else gpus, cpus=cpus, wait=self.wait,
                       slurm={k: v for k, v in self.slurm.items() if k not in slurm_as_written},
                       timeout=self.timeout, job_name=str(self.slurm.get("job_name") or job_name))


def config_class(target: str, name: str = "HydraflowLauncherConf", module: str = __name__, **defaults: Any) -> type:
    """The Hydra config node of a launcher ``target`` with these settings (``defaults``: other defaults),
    a dataclass named ``name`` that ``module`` holds (a config's node type is pickled with its runs)."""
    hints = typing.get_type_hints(LauncherSettings)
    fields: List[Tuple[str, Any, Any]] = [("_target_", str, field(default=target))]
    for f in dataclasses.fields(LauncherSettings):
        value = defaults.get(f.name, f.default)
        default = field(default=value) if value is not dataclasses.MISSING else field(default_factory=f.default_factory)
        fields.append((f.name, hints[f.name], default))
    conf = dataclasses.make_dataclass(name, fields)
    conf.__module__ = module
    return conf


def unknown_overridden(overrides: Iterable[str]) -> List[str]:
    """A problem (with did-you-mean) for each ``hydra.launcher.KEY=...`` override (``+``, ``~`` too) whose KEY,
    or ``slurm.KEY``, is no setting: for the command lines that start a hydraflow launcher (Hydra itself would
    say only "Key 'max_paralel' not in 'HydraflowLauncherConf'" and advise a '+')."""
    from hydraflow_core.executors.slurm.fields import problems as slurm_problems

    names = [f.name for f in dataclasses.fields(LauncherSettings)]
    found: List[str] = []
    for override in overrides:
        key = override.partition("=")[0].strip().lstrip("+~")
        if not key.startswith(PREFIX):
            continue
        name, _, rest = key[len(PREFIX):].partition(".")
        if name not in names and name != "_target_":
            found.append(_unknown(name, names))
        elif name == "slurm" and rest:
            found.extend(slurm_problems({rest.partition(".")[0]: None}))
    return list(dict.fromkeys(found))


#: How the settings are written on Hydra's command line.
PREFIX = "hydra.launcher."


def _unknown(name: str, names: List[str]) -> str:
    from hydraflow_core.errors import did_you_mean

    return f"{name}: unknown field{did_you_mean(name, names)}; valid fields: {', '.join(names)}"


def _gpu_list(gpus: Any) -> Any:
    """``gpus`` as a list: ``"0,1"`` and ``3`` are taken too (anything else is left for the check)."""
    if isinstance(gpus, str):
        return [g.strip() for g in gpus.split(",") if g.strip()]
    if isinstance(gpus, int) and not isinstance(gpus, bool):
        return [gpus]
    return list(gpus) if isinstance(gpus, tuple) else gpus


def _whole(least: int, optional: bool = False) -> Callable[[str, Any], List[str]]:
    def check(name: str, value: Any) -> List[str]:
        if optional and value is None:
            return []
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            return [f"{name} must be a whole number of at least {least}, not {value!r}"]
        return []
    return check


def _one_of(*choices: str) -> Callable[[str, Any], List[str]]:
    def check(name: str, value: Any) -> List[str]:
        return [] if value in choices else [f"{name} must be one of: {', '.join(choices)}, not {value!r}"]
    return check


def _flag(name: str, value: Any) -> List[str]:
    return [] if isinstance(value, bool) else [f"{name} must be true or false, not {value!r}"]


def _minutes(name: str, value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        return [f"{name} must be a positive number of minutes (e.g. 30 or 0.5), or null for no limit, not {value!r}"]
    return []


# A GPU id as CUDA_VISIBLE_DEVICES takes it: an index, or a GPU / MIG UUID.
_GPU_ID = re.compile(r"[0-9]+|(GPU|MIG)-[0-9A-Za-z/-]+")


def _gpus(name: str, gpus: Any) -> List[str]:
    if gpus is None:
        return []
    if not isinstance(gpus, list):
        return [f"{name} must be a list of GPU ids, e.g. [0,1], not {gpus!r}"]
    bad = [g for g in gpus if isinstance(g, bool) or not isinstance(g, (int, str))
           or (isinstance(g, int) and g < 0) or (isinstance(g, str) and not _GPU_ID.fullmatch(g.strip()))]
    if bad:
        return [f"{name} must hold GPU ids: whole numbers (0, 1, ...) or GPU UUIDs (GPU-..., MIG-...), "
                f"not {', '.join(repr(g) for g in bad)}"]
    return []


def _slurm(name: str, settings: Any) -> List[str]:
    from hydraflow_core.executors.slurm.fields import problems

    return problems(dict(settings or {}))


#: Each setting's check: (name, value) -> problems, each a line ("max_parallel must be ...").
CHECKS: Dict[str, Callable[[str, Any], List[str]]] = {
    "backend": _one_of("local", "slurm"),
    "max_parallel": _whole(1, optional=True),  # null: the backend's default (1 here, %N on Slurm)
    "gpus": _gpus,
    "runs_per_task": _whole(1, optional=True),
    "parallel_per_task": _whole(1),
    "start": _one_of("fork", "exec"),
    "wait": _flag,
    "resume": _flag,
    "dry_run": _flag,
    "max_retries": _whole(0),
    "timeout_min": _minutes,
    "lean": _flag,
    "slurm": _slurm,
}
assert list(CHECKS) == [f.name for f in dataclasses.fields(LauncherSettings)], "a check for every setting"
