"""Slurm settings that vary per run. Light (no submitit, no Hydra).

A ``hydra.launcher.slurm.*`` field may interpolate the run's own config
(``gpus_per_node: ${model.gpus}``). Such a field is resolved
for each run against that run's composed config; runs with the same resolved
settings share arrays, each distinct set gets its own. ``${hydra.*}``
interpolations (``${hydra.sweep.dir}``) are the same for every run and are
resolved once, with the sweep's config.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, Iterable, Mapping, Sequence, Tuple

from hydraflow_core.errors import ResourceError
from hydraflow_core.executors.slurm.fields import problems

#: ``${a.b}``: a node interpolation (a resolver call ``${name:...}`` has a colon; its arguments are found alone).
_NODE = re.compile(r"\$\{\s*([^${}:\s][^${}:]*?)\s*\}")
#: Where the fields are in a run's config.
PREFIX = "hydra.launcher.slurm."


Resources = Tuple[Tuple[str, Any], ...]


def interpolated_fields(raw: Mapping[str, Any]) -> Tuple[str, ...]:
    """The fields whose value (as written, unresolved) interpolates a key outside ``hydra.*``."""
    out = []
    for name, value in raw.items():
        keys = _NODE.findall(value) if isinstance(value, str) else []
        if any(not key.startswith(("hydra.", ".")) for key in keys):
            out.append(name)
    return tuple(sorted(out))


def shown(number: int, overrides: Sequence[str]) -> str:
    return f"run #{number}" + (f" ({' '.join(overrides)})" if overrides else "")


def resolve(number: int, overrides: Sequence[str], fields: Iterable[str], select: Callable[[str], Any],
            raw: Mapping[str, Any]) -> Resources:
    """Each field's value for one run (``select(field)`` resolves it against the run's config), checked."""
    values = {}
    for name in sorted(fields):
        try:
            values[name] = select(name)
        except Exception as error:  # noqa: BLE001 - OmegaConf's own errors: missing key, bad resolver ...
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            written = raw.get(name)
            what = f"{PREFIX}{name}" + (f"={written}" if isinstance(written, str) else "")
            raise ResourceError(f"{shown(number, overrides)}: {what} cannot be resolved: {reason}") from None
    bad = problems(values)
    if bad:
        raise ResourceError(f"{shown(number, overrides)}: " + "; ".join(f"hydra.launcher.{p}" for p in bad))
    return tuple(sorted(values.items()))


def batch_settings(raw: Mapping[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """A job's ``slurm:`` for one batch: each ``${key}`` is the value the batch's own overrides give ``key``.

    A value that is one interpolation takes the override's value as YAML reads
    it (``cpus=2`` gives 2); inside text it is pasted as written. Raises
    KeyError naming a key the batch does not set.
    """
    values: Dict[str, str] = {}
    for override in overrides:
        key, equals, value = override.partition("=")
        if equals:
            values[key.strip().lstrip("+~")] = value
    out = dict(raw)
    for name in interpolated_fields(raw):
        text = raw[name]
        keys = _NODE.findall(text)
        missing = [k for k in keys if k not in values]
        if missing:
            raise KeyError(missing[0])
        whole = _NODE.fullmatch(text.strip())
        if whole:
            out[name] = _yaml_value(values[whole.group(1)])
        else:
            out[name] = _NODE.sub(lambda match: values[match.group(1)], text)
    return out


def _yaml_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
