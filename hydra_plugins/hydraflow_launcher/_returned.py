"""What a run returned, as its end event records it (``return_value``): small plain data, or nothing.

``hydraflow results`` reads it back as the run's numbers, and a sweeper gets it
where the run's JobReturn could not travel (a Slurm task, a fresh interpreter,
a resumed sweep). Plain data is what strict JSON holds: mappings (a dict, a
dataclass's fields, an OmegaConf DictConfig), lists (a tuple, a ListConfig),
text, numbers (numpy and torch scalars through their ``.item()``), booleans
and null; a float NaN or infinity is text (``"nan"``, ``"inf"``, ``"-inf"``).
An entry of a mapping that is not plain data is left out (the numbers next to
a model are kept); anything else not plain, or longer than :data:`LIMIT`
characters of JSON, is not recorded. The walk stops after :data:`LIMIT`
values, so a run returning a huge list costs no more than a small one.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from typing import Any, Dict, List, Mapping, Optional

from omegaconf import DictConfig, ListConfig, OmegaConf

#: The most characters of JSON (and values walked) a run's recorded return value may have.
LIMIT = 10_000


class _NotPlain(Exception):
    """This value has no plain form."""


class _TooBig(Exception):
    """More values than :data:`LIMIT`: nothing is recorded."""


def recorded(value: Any) -> Any:
    """``value`` as plain JSON data, or None when it has none or it is too big."""
    try:
        plain = _Walk().plain(value)
        text = json.dumps(plain, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (_NotPlain, _TooBig, RecursionError, ValueError, TypeError):
        return None
    return plain if len(text) <= LIMIT else None


class _Walk:
    def __init__(self) -> None:
        self.left = LIMIT

    def plain(self, value: Any) -> Any:
        self.left -= 1
        if self.left < 0:
            raise _TooBig
        if value is None or type(value) in (str, bool, int):  # the common cases first
            return value
        if type(value) is float:
            return value if math.isfinite(value) else str(value)
        if isinstance(value, enum.Enum):  # before str and int: a str or int Enum is recorded by its name
            return value.name
        if isinstance(value, str):
            return str(value)
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):  # numpy's float64 is a float
            return self.plain(float(value))
        if isinstance(value, (DictConfig, ListConfig)):
            return self.plain(_container(value))
        if isinstance(value, Mapping):
            return self.mapping(value.items())
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.mapping((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        if isinstance(value, (list, tuple)):
            return self.sequence(value)
        return self.plain(_item(value))

    def mapping(self, items: Any) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for key, item in items:
            name = _key(key)
            if name is None:
                continue
            try:
                out[name] = self.plain(item)
            except _NotPlain:  # left out; the mapping's other entries are kept
                continue
        return out

    def sequence(self, items: Any) -> List[Any]:
        if len(items) > self.left:
            raise _TooBig
        return [self.plain(item) for item in items]


def _key(key: Any) -> Optional[str]:
    """A mapping key as JSON text (JSON's keys are text), or None for one that has no plain form."""
    if isinstance(key, enum.Enum):
        return key.name
    if isinstance(key, str):
        return str(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return str(int(key))
    return None


def _container(config: Any) -> Any:
    """A DictConfig or ListConfig as dicts and lists, interpolations resolved (a missing value: ``"???"``)."""
    if len(config) > LIMIT:
        raise _TooBig
    try:
        return OmegaConf.to_container(config, resolve=True)
    except Exception as error:  # an interpolation that does not resolve
        raise _NotPlain from error


def _item(value: Any) -> Any:
    """A numpy or torch scalar (or 0-d array or 1-element tensor) as the Python number its ``.item()`` gives."""
    item = getattr(value, "item", None)
    if not callable(item):
        raise _NotPlain
    try:
        number = item()
    except Exception as error:  # an array of several values, a method of another meaning
        raise _NotPlain from error
    if type(number) not in (bool, int, float):
        raise _NotPlain
    return number
