"""A whole sweep: overrides -> sub-sweeps -> runs (SPEC 1.3, 1.4, 1.7).

Runs follow Hydra's order: the product of the overrides in the order written,
the last one varying fastest. A piped override splits the sweep into
sub-sweeps, one per combination of sections, run one after another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Sequence, Tuple

from ..errors import SweepSyntaxError, shorten
from . import hydra_bridge
from .evaluate import Evaluator
from .nodes import Atom, Call, Range
from .numbers import EXACT, SI_LETTERS
from .parser import parse_value
from .values import Concat, Literal, Numbers, Values

#: Default limit on the values of one override (SPEC 1.1).
from ..limits import MAX_VALUES  # noqa: E402  (re-exported by the syntax package)

# 'KEY/S': a key scaled by one SI letter.
_SCALED_KEY = re.compile(rf"(.+)/([{''.join(SI_LETTERS)}])")
# Axes up to this length are computed once and kept; longer ones stay lazy.
_CACHE_LIMIT = 1 << 16


class Axis(Values):
    """The run entries (``key=value``) of one override section."""

    def __init__(self, prefix: str, values: Values) -> None:
        self.prefix = prefix
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: int) -> str:
        return self.prefix + self.values[index]

    def __iter__(self) -> Iterator[str]:
        prefix = self.prefix
        return (prefix + v for v in self.values)

    def joined(self) -> str:
        """All values as one comma sweep for Hydra: ``lr=1,2,3``."""
        return self.prefix + ",".join(self.values)


@dataclass(frozen=True)
class Override:
    """One parsed override: its key (for Hydra's last-wins rule) and its sections."""

    key: str
    sections: Tuple[Axis, ...]

    @property
    def piped(self) -> bool:
        return len(self.sections) > 1

    def count(self) -> int:
        return sum(len(axis) for axis in self.sections)

    def keys(self) -> set:
        return {axis.prefix[:-1] if axis.prefix else self.key for axis in self.sections}


@dataclass(frozen=True)
class RunGroup:
    """One sub-sweep: its runs go to a launcher together (a batch group)."""

    axes: Tuple[Axis, ...]

    def count(self) -> int:
        total = 1
        for axis in self.axes:
            total *= len(axis)
        return total

    def runs(self) -> Iterator[List[str]]:
        return _odometer(self.axes)


class SweepSpace:
    """All runs of a list of overrides, never materialised."""

    def __init__(self, overrides: Sequence[Override]) -> None:
        self.overrides = list(overrides)

    def count(self) -> int:
        total = 1
        for override in self.overrides:
            total *= override.count()
        return total

    def groups(self) -> List[RunGroup]:
        """The sub-sweeps, in order (later piped overrides' sections varying fastest), each a batch group."""
        choices = [list(range(len(o.sections))) for o in self.overrides]
        return [RunGroup(tuple(o.sections[k] for o, k in zip(self.overrides, picked)))
                for picked in _odometer(choices)]

    def runs(self) -> Iterator[List[str]]:
        for group in self.groups():
            yield from group.runs()


def parse_sweep(overrides: Sequence[str], max_values: int = MAX_VALUES) -> SweepSpace:
    """Parse every override now (errors are raised here), expand nothing yet."""
    if isinstance(overrides, str):
        raise TypeError("expected a list of overrides such as ['a=1,2', 'b=x'], not one string")
    by_key: Dict[str, Override] = {}
    for text in overrides:
        override = parse_override(text, max_values)
        _check_piped_keys(override, text, by_key.values())
        by_key[override.key] = override  # last wins, at the first position
    return SweepSpace(by_key.values())


def _check_piped_keys(override: Override, text: str, earlier) -> None:
    """A key set in a '|' section may not be set by another override: which would win is unclear."""
    mine = override.keys()
    for other in earlier:
        if other.key == override.key and not (override.piped or other.piped):
            continue  # Hydra's rule: the later plain override replaces the earlier
        if (override.piped or other.piped) and mine & other.keys():
            shared = sorted(mine & other.keys())[0]
            raise SweepSyntaxError(
                f"'{shared}' is set by two overrides, one of them with '|'", text, 0,
                hint="set each key of a '|' section in one override only",
            )


def parse_override(text: str, max_values: int = MAX_VALUES) -> Override:
    """One ``KEY=EXPR`` override, parsed, evaluated and checked by Hydra's parser."""
    equals = text.find("=")
    if equals < 0:
        if text.strip().startswith("~"):  # '~key' deletes a key: no value
            _check_with_hydra(text, text.strip(), [], 0, 0)
            return Override(text.strip(), (Axis("", Literal((text.strip(),))),))
        raise SweepSyntaxError(
            "missing '='", text, len(text), hint="an override is KEY=VALUE, e.g. lr=0.1 or lr=1:5"
        )
    key = text[:equals].strip()
    if not key:
        raise SweepSyntaxError("empty key", text, 0, hint="an override is KEY=VALUE, e.g. lr=0.1")
    sections = parse_value(text, equals + 1)
    evaluator = Evaluator(text, max_values)
    items_per_section = evaluator.sections(sections)

    # Each section's key: its own, else the previous section's.
    keys, key_positions = [], []
    key_position = len(text) - len(text.lstrip())
    for section in sections:
        if section.key is not None:
            key, key_position = section.key, section.key_position
        keys.append(key)
        key_positions.append(key_position)
    values_per_section = _scale_by_keys(keys, items_per_section)

    axes = []
    for i, section in enumerate(sections):
        final_key, values = values_per_section[i]
        if final_key == keys[i]:  # not scaled: Hydra must accept what we pass on
            checked = [
                (values_of_item[0], item.position)
                for item, values_of_item in zip(section.sweep.items, items_per_section[i])
                if not (len(item.pieces) == 1 and isinstance(item.pieces[0], (Range, Call)))
                and not _plain(item)
            ]
            _check_with_hydra(text, final_key, checked, key_positions[i], section.sweep.position)
        axes.append(Axis(final_key + "=", values))
    return Override(values_per_section[0][0], tuple(axes))


def _scale_by_keys(keys: List[str], items_per_section) -> List[Tuple[str, Values]]:
    """Apply ``KEY/S`` where every value of the sections with that key is a plain number."""
    merged = [items[0] if len(items) == 1 else Concat(items) for items in items_per_section]
    out = [(key, values) for key, values in zip(keys, merged)]
    for key in set(keys):
        match = _SCALED_KEY.fullmatch(key)
        if match is None or "@" in key:
            continue
        mine = [i for i, k in enumerate(keys) if k == key]
        numbers = [merged[i].numbers() for i in mine]
        if any(n is None for n in numbers):
            continue  # a config-group path such as model/m
        factor = SI_LETTERS[match.group(2)]
        for i, nums in zip(mine, numbers):
            out[i] = (match.group(1), Numbers([EXACT.multiply(n, factor) for n in nums]))
    return out


def _plain(item) -> bool:
    """An item of plain text only: valid for Hydra whatever its length, no parser needed."""
    return all(isinstance(p, Atom) and hydra_bridge.PLAIN_TEXT.fullmatch(p.text) for p in item.pieces)


def _check_with_hydra(text, key, checked, key_position, value_position) -> None:
    """Reject, with a caret, any key or value that Hydra's parser rejects."""
    if key.startswith("~") and not checked and "=" not in text:
        candidate = key
    else:
        candidate = f"{key}=" + (",".join(v for v, _ in checked) if checked else "0")
    if hydra_bridge.hydra_error(candidate) is None:
        return
    message = hydra_bridge.hydra_error(f"{key}=0" if "=" in candidate else key)
    if message is not None:
        raise SweepSyntaxError(
            f"Hydra cannot parse the key '{shorten(key)}'", text, key_position, hint=f"Hydra says: {message}"
        )
    for value, position in checked:
        message = hydra_bridge.hydra_error(f"{key}={value}")
        if message is not None:
            raise SweepSyntaxError(
                f"Hydra cannot parse the value '{shorten(value)}'", text, position,
                hint=f"Hydra says: {message}",
            )
    raise SweepSyntaxError(  # pragma: no cover - every part alone passed
        "Hydra cannot parse this override", text, value_position
    )


def _odometer(axes: Sequence[Sequence[str]]) -> Iterator[list]:
    """Every combination of one entry per axis, the last axis varying fastest."""
    if not axes:
        yield []
        return
    pools = [list(a) if len(a) <= _CACHE_LIMIT else a for a in axes]
    sizes = [len(p) for p in pools]
    if 0 in sizes:
        return
    *outer, inner = pools
    index = [0] * len(outer)
    current = [p[0] for p in outer]
    while True:
        for value in inner:
            yield current + [value]
        i = len(outer) - 1
        while i >= 0:
            index[i] += 1
            if index[i] < sizes[i]:
                current[i] = outer[i][index[i]]
                break
            index[i] = 0
            current[i] = outer[i][0]
            i -= 1
        if i < 0:
            return
