"""Syntax tree of one override's value (the parser's output).

Every node keeps the column where it starts, so later stages (too many values,
scaling, Hydra's own checks) can still point a caret at the right place.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Optional, Tuple, Union


@dataclass(frozen=True)
class Atom:
    """Text passed to Hydra verbatim (part of an item, or a whole one)."""

    text: str
    position: int


@dataclass(frozen=True)
class Call:
    """A Hydra function call that is a whole item: ``range(1,5)``, ``choice(a,b)``."""

    name: str
    text: str
    position: int


@dataclass(frozen=True)
class Range:
    """``start:stop[:step][:S]``; numbers are exact, absolute, and already scaled by ``:S``."""

    text: str
    position: int
    start: Decimal
    stop: Decimal
    kind: str  # "add" (step), "mul" (factor) or "count" (#n)
    step: Decimal  # the additive step, the factor, or the number of points
    scaled: bool = False  # an SI letter or eN somewhere: values are typed by value
    floats: bool = False  # unscaled and written with a point or exponent: all floats


@dataclass(frozen=True)
class Group:
    """``( sweep ) [S]``; ``letter`` is the SI letter written right after ``)``."""

    sweep: "Sweep"
    position: int
    letter: Optional[str] = None


Piece = Union[Atom, Call, Range, Group]


@dataclass(frozen=True)
class Item:
    """Adjacent pieces; the item's values are the product of theirs, joined."""

    pieces: Tuple[Piece, ...]
    position: int


@dataclass(frozen=True)
class Sweep:
    """Comma-separated items, in the order written."""

    items: Tuple[Item, ...]
    position: int


@dataclass(frozen=True)
class Section:
    """One ``|`` section: its own key (None: the previous section's) and sweep."""

    key: Optional[str]
    key_position: int
    sweep: Sweep
