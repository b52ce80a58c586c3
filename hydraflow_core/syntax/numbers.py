"""Exact decimal numbers: SI letters, reading numbers, and writing values.

Everything here works on :class:`decimal.Decimal` under a wide context, so
``0.1 + 0.2`` is ``0.3`` and a range never gains or loses a value through
binary rounding.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation
from typing import Iterable, Optional

#: SI letter -> scale factor (SPEC 1).
SI_LETTERS = {
    "f": Decimal("1e-15"),
    "p": Decimal("1e-12"),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
}

#: Arithmetic context: wide enough that sums and products of user-written
#: numbers are exact (a float has at most 17 significant digits).
EXACT = Context(prec=80, Emin=-999999, Emax=999999)

#: Context for values that have no short exact decimal (``#n``, ``*f``).
ROUNDED = Context(prec=15)

# A plain number: digits with optional sign, point and exponent.
_PLAIN = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
PLAIN_NUMBER = re.compile(_PLAIN)
NUMBER_WITH_LETTER = re.compile(f"({_PLAIN})([{''.join(SI_LETTERS)}])?")


def parse_plain(text: str) -> Optional[Decimal]:
    """The value of a plain number (``2``, ``-0.5``, ``.5``, ``1.``, ``1e-3``), else None."""
    if PLAIN_NUMBER.fullmatch(text) is None:
        return None
    return Decimal(text)


def parse_number(text: str) -> Optional[tuple[Decimal, Optional[str]]]:
    """``(value, letter)`` of a number with an optional SI letter (``2.5k``), else None.

    The value is already scaled by the letter; the letter is returned so that
    ranges can tell which unit their bounds share.
    """
    match = NUMBER_WITH_LETTER.fullmatch(text)
    if match is None:
        return None
    value = Decimal(match.group(1))
    letter = match.group(2)
    if letter:
        value = EXACT.multiply(value, SI_LETTERS[letter])
    return value, letter


def in_range(value: Decimal) -> bool:
    """True for 0 and for numbers whose size lies within 1e-1000 .. 1e1000 (exact arithmetic stays cheap)."""
    return value == 0 or -1000 <= value.adjusted() <= 1000


def round15(value: Decimal) -> Decimal:
    """``value`` rounded to 15 significant digits."""
    return ROUNDED.plus(value)


def is_integral(value: Decimal) -> bool:
    return value == value.to_integral_value()


def all_integral(values: Iterable[Decimal]) -> bool:
    return all(is_integral(v) for v in values)


def format_value(value: Decimal, as_int: bool) -> str:
    """Write one value by the integer/float rule of SPEC 1.1.

    Integers are written in full (``1000``, never ``1e3``, which Hydra reads as
    a float); floats in the shortest form that reads back as the exact decimal,
    in Python's own style where a float holds it exactly (``0.001``, ``1e-06``).
    """
    if as_int:
        return str(int(value))
    short = repr(float(value))
    try:
        if Decimal(short) == value:
            return short
    except InvalidOperation:  # inf / nan: cannot happen for finite input
        pass
    text = str(value.normalize(EXACT))
    if "." not in text and "E" not in text:
        text += ".0"
    return text
