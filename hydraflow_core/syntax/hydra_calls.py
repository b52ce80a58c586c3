"""Values of Hydra's function calls (``range()``, ``choice()``, ``sort()``, casts ...).

Hydra's own parser reads the call; hydraflow then walks the sweep it returns
instead of asking hydra-core to enumerate it, for three reasons:

- hydra-core 1.3 enumerates a float ``range()`` by adding binary floats
  (``range(1,0,-0.1)`` gives ``0.39999999999999997``) and its ``sort()`` of a
  range can step past the range (``sort(range(1,0,-0.1))`` gives ``1.1``).
  Hydra's main branch computes ``start + i*step`` in exact decimals from each
  number's shortest text and sorts a range by its real first and last
  elements; so does this module, on every hydra-core version.
- a range's size is known before any value is made, so ``range(0,1e18)`` or
  ``shuffle(range(0,1e9))`` meets the ``max_values`` limit at once;
- every value is written so that Hydra reads back the same value *and type*:
  ``str(10)`` gives ``'10'`` (quoted), never the int ``10``.
"""

from __future__ import annotations

import functools
import random
import re
from decimal import ROUND_CEILING, Decimal
from typing import Any, Callable, Optional

from hydra.core.override_parser.types import (
    ChoiceSweep,
    Quote,
    QuotedString,
    RangeSweep,
    Transformer,
)

from ..errors import SweepSyntaxError, shorten
from . import hydra_bridge
from .numbers import EXACT
from .values import Literal, Values


class CallError(Exception):
    """A call Hydra cannot evaluate: ``problem`` and a ``hint`` for the user."""

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(problem)
        self.problem, self.hint = problem, hint


def evaluate(call: str, check_size: Callable[[int], None]) -> Values:
    """The values of one whole-item call; ``check_size`` runs before any is made."""
    try:
        override = parser_with_fixed_sort().parse_override(f"x={call}")
        value = override.value()
    except Exception as error:  # Hydra raises several types, all mean "rejected"
        raise CallError(f"Hydra cannot evaluate '{shorten(call)}'", f"Hydra says: {hydra_bridge.first_line(error)}")
    try:
        if isinstance(value, RangeSweep):
            values: Values = HydraRange(value)
            check_size(len(values))
            if value.shuffle:
                values = Literal(random.sample(list(values), len(values)))
            return values
        if isinstance(value, ChoiceSweep):
            check_size(len(value.list))
            items = list(value.list)
            if value.shuffle:
                random.shuffle(items)
            return Literal([encode(v) for v in items])
        if override.is_sweep_override():  # interval(): for an optimizing sweeper
            return Literal((call,))
        text = encode(value)
        return Literal((call if text is None else text,))
    except (CallError, SweepSyntaxError):  # SweepSyntaxError: the size limit
        raise
    except (ValueError, TypeError, ArithmeticError) as error:
        raise CallError(f"Hydra cannot evaluate '{shorten(call)}'", f"Hydra says: {hydra_bridge.first_line(error)}")


class HydraRange(Values):
    """Hydra's ``range(start, stop, step)``: stop excluded, exact decimals (Hydra main)."""

    def __init__(self, sweep: RangeSweep) -> None:
        numbers = (sweep.start, sweep.stop, sweep.step)
        if sweep.step == 0:
            raise CallError("range() step is 0", "a Hydra range needs a step other than 0, e.g. range(1,5,1)")
        self.ints = all(isinstance(n, int) for n in numbers)
        # Each number from its shortest text, as Hydra main does: 0.1 is 0.1, not 0.1000000000000000055.
        self.start, stop, self.step = (n if self.ints else Decimal(str(n)) for n in numbers)
        if not self.ints and not all(n.is_finite() for n in (self.start, stop, self.step)):
            raise CallError("range() bounds must be finite numbers", "e.g. range(0,1,0.1)")
        steps = EXACT.divide(stop - self.start, self.step)
        self.count = max(0, int(steps.to_integral_value(ROUND_CEILING))) if not self.ints \
            else len(range(self.start, stop, self.step))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.count:
            raise IndexError(index)
        value = self.start + self.step * index
        return str(value) if self.ints else str(float(value))


def sort_fixed(original: Callable[..., Any]) -> Callable[..., Any]:
    """Hydra's ``sort()``, except that a range is sorted by its real first and last values."""

    @functools.wraps(original)  # Hydra checks arguments against the original's signature
    def sort(*args: Any, sweep: Any = None, list: Any = None, reverse: bool = False) -> Any:
        target = sweep if sweep is not None else (args[0] if len(args) == 1 else None)
        if not isinstance(target, RangeSweep) or list is not None:
            return original(*args, sweep=sweep, list=list, reverse=reverse)
        values = HydraRange(target)
        ascending = target.step > 0
        if values.count < 2 or ascending != reverse:
            return target
        last = values.start + values.step * (values.count - 1)
        flipped = RangeSweep(start=last, stop=values.start - values.step / 2 if not values.ints
                             else values.start - values.step, step=-values.step,
                             shuffle=target.shuffle)
        flipped.tags = set(target.tags)
        return flipped

    return sort


@functools.lru_cache(maxsize=1)
def parser_with_fixed_sort():
    """Hydra's parser with a ``sort()`` that sorts a range right (hydra-core 1.3 does not).

    The function table is reached through the parser's ``functions`` attribute;
    where a Hydra version lays it out differently, Hydra's own ``sort`` stays
    (Hydra's main branch has the fix).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    fresh = OverridesParser.create()
    table = getattr(getattr(fresh, "functions", None), "functions", None)
    if isinstance(table, dict) and callable(table.get("sort")):
        table["sort"] = sort_fixed(table["sort"])
    return fresh


# A string Hydra reads back as the same string when written bare: an ID that is
# not a bool, null, inf or nan (the common case, checked without Hydra's parser).
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_KEYWORDS = {"true", "false", "null", "inf", "nan"}


def encode(value: Any) -> Optional[str]:
    """Write ``value`` so that Hydra reads back the same value and type; None if it cannot."""
    if value is None:
        return "null"
    if isinstance(value, QuotedString):
        return value.with_quotes()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return _encode_str(value)
    if isinstance(value, list):
        parts = [encode(v) for v in value]
        return None if None in parts else "[" + ",".join(parts) + "]"
    if isinstance(value, dict):
        parts = [(Transformer.str(k), encode(v)) for k, v in value.items()]
        return None if any(v is None for _, v in parts) else "{" + ",".join(f"{k}:{v}" for k, v in parts) + "}"
    return None


@functools.lru_cache(maxsize=4096)
def _encode_str(text: str) -> str:
    if _BARE.fullmatch(text) and text.lower() not in _KEYWORDS:
        return text
    bare = Transformer.str(text)
    try:
        back = hydra_bridge.parser().parse_override(f"x={bare}")
        if not back.is_sweep_override() and back.value() == text and isinstance(back.value(), str):
            return bare
    except Exception:  # not readable bare: quote it
        pass
    return QuotedString(text=text, quote=Quote.single).with_quotes()
