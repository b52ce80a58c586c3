"""Lazy value lists: each knows its length and computes value ``i`` on demand.

A sweep never materialises its values unless asked, so ``count`` is
arithmetic and the first run of a huge sweep comes back at once.
"""

from __future__ import annotations

from bisect import bisect_right
from decimal import Decimal
from itertools import accumulate
from typing import Iterator, List, Optional, Sequence

from .numbers import EXACT, all_integral, format_value, is_integral, parse_plain, round15


class Values:
    """A read-only sequence of value strings."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> str:
        raise NotImplementedError

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def numbers(self) -> Optional[List[Decimal]]:
        """Every value as an exact number if all are plain numbers, else None."""
        out = []
        for text in self:
            value = parse_plain(text)
            if value is None:
                return None
            out.append(value)
        return out


class Literal(Values):
    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = tuple(texts)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> str:
        return self.texts[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts)


class Numbers(Values):
    """Exact numbers written by the integer/float rule over the whole list.

    ``floats`` writes every value as a float (a range spelled with floats, SPEC 1.1).
    """

    def __init__(self, values: Sequence[Decimal], floats: bool = False) -> None:
        self.values = list(values)
        self.as_int = not floats and all_integral(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: int) -> str:
        return format_value(self.values[index], self.as_int)

    def numbers(self) -> List[Decimal]:
        return self.values


class Arithmetic(Values):
    """``start + i * step`` for i in 0..count-1."""

    def __init__(self, start: Decimal, step: Decimal, count: int, floats: bool = False) -> None:
        self.start, self.step, self.count = start, step, count
        self.as_int = not floats and is_integral(start) and (count == 1 or is_integral(step))

    def __len__(self) -> int:
        return self.count

    def value(self, index: int) -> Decimal:
        return EXACT.add(self.start, EXACT.multiply(self.step, index))

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return format_value(self.value(index), self.as_int)

    def numbers(self) -> List[Decimal]:
        return [self.value(i) for i in range(self.count)]


class Points(Values):
    """``count`` evenly spaced points from ``start`` to ``stop``, both included."""

    def __init__(self, start: Decimal, stop: Decimal, count: int, floats: bool = False) -> None:
        self.start, self.stop, self.count = start, stop, count
        self.delta = EXACT.divide(stop - start, max(count - 1, 1))
        self.as_int = not floats and is_integral(start) and is_integral(self.delta)

    def __len__(self) -> int:
        return self.count

    def value(self, index: int) -> Decimal:
        if index == self.count - 1:
            return self.stop
        if index == 0:
            return self.start
        return round15(EXACT.add(self.start, EXACT.multiply(self.delta, index)))

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return format_value(self.value(index), self.as_int)

    def numbers(self) -> List[Decimal]:
        return [self.value(i) for i in range(self.count)]


class Concat(Values):
    """The values of several lists, one list after the other (a comma sweep)."""

    def __init__(self, parts: Sequence[Values]) -> None:
        self.parts = list(parts)
        self.ends = list(accumulate(len(p) for p in self.parts))

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __getitem__(self, index: int) -> str:
        k = bisect_right(self.ends, index)
        if k >= len(self.parts) or index < 0:
            raise IndexError(index)
        return self.parts[k][index - (self.ends[k - 1] if k else 0)]

    def __iter__(self) -> Iterator[str]:
        for part in self.parts:
            yield from part


class Product(Values):
    """Concatenated pieces: every combination, the last piece varying fastest."""

    def __init__(self, parts: Sequence[Values]) -> None:
        self.parts = list(parts)
        self.size = 1
        for part in self.parts:
            self.size *= len(part)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.size:
            raise IndexError(index)
        texts = []
        for part in reversed(self.parts):
            index, k = divmod(index, len(part))
            texts.append(part[k])
        return "".join(reversed(texts))
