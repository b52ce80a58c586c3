"""Turn a parsed value (:mod:`.nodes`) into lazy value lists (:mod:`.values`)."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import List, Tuple

from ..errors import SweepSyntaxError
from . import hydra_bridge, hydra_calls
from .nodes import Atom, Call, Group, Item, Range, Section, Sweep
from .numbers import EXACT, SI_LETTERS, round15
from .values import Arithmetic, Concat, Literal, Numbers, Points, Product, Values


class Evaluator:
    """Values of one override's sections, with its ``max_values`` limit."""

    def __init__(self, override: str, max_values: int) -> None:
        self.override = override
        self.max_values = max_values

    def sections(self, sections: Tuple[Section, ...]) -> List[List[Values]]:
        """For each section, the values of each of its items."""
        whole = len(sections) == 1 and len(sections[0].sweep.items) == 1
        out = []
        for section in sections:
            items = [self.item(item, whole) for item in section.sweep.items]
            self.check_size(sum(len(v) for v in items), section.sweep.position)
            out.append(items)
        self.check_size(sum(len(v) for items in out for v in items), sections[0].sweep.position)
        return out

    def sweep(self, node: Sweep) -> Values:
        parts = [self.item(item, whole=False) for item in node.items]
        values = parts[0] if len(parts) == 1 else Concat(parts)
        self.check_size(len(values), node.position)
        return values

    def item(self, node: Item, whole: bool) -> Values:
        if not node.pieces:
            return Literal(("",))  # 'a=': the empty string is a value
        parts = [self.piece(piece, whole and len(node.pieces) == 1) for piece in node.pieces]
        if len(parts) == 1:
            return parts[0]
        values = Product(parts)
        self.check_size(len(values), node.position)
        return values

    def piece(self, node, whole: bool) -> Values:
        if isinstance(node, Atom):
            return Literal((node.text,))
        if isinstance(node, Range):
            return self.range(node)
        if isinstance(node, Group):
            return self.group(node)
        return self.call(node, whole)

    def call(self, node: Call, whole: bool) -> Values:
        if node.name in hydra_bridge.VERBATIM_FUNCTIONS:
            if not whole:
                raise SweepSyntaxError(
                    f"{node.name}() cannot be combined with other values", self.override,
                    node.position, hint=f"{node.name}(...) must be the whole value of its override",
                )
            return Literal((node.text,))
        try:
            return hydra_calls.evaluate(node.text, lambda size: self.check_size(size, node.position))
        except hydra_calls.CallError as error:
            raise SweepSyntaxError(error.problem, self.override, node.position, hint=error.hint) from None

    def group(self, node: Group) -> Values:
        inner = self.sweep(node.sweep)
        if node.letter is None:
            return inner
        numbers = inner.numbers()
        if numbers is None:  # '(res,mobile)M': the letter is text
            return Product([inner, Literal((node.letter,))])
        factor = SI_LETTERS[node.letter]
        return Numbers([EXACT.multiply(n, factor) for n in numbers])

    def range(self, node: Range) -> Values:
        start, stop, step = node.start, node.stop, node.step
        if node.kind == "count":
            count = int(step)
            self.check_size(count, node.position)
            return Points(start, stop, count, node.floats)
        if node.kind == "mul":
            return Numbers(self._geometric(node), node.floats)
        steps = EXACT.divide(EXACT.subtract(stop, start), step)
        count = int(steps.to_integral_value(ROUND_FLOOR)) + 1
        self.check_size(count, node.position)
        return Arithmetic(start, step, count, node.floats)

    def _geometric(self, node: Range) -> List[Decimal]:
        start, stop, factor = node.start, node.stop, node.step
        grows = factor > 1
        if start != stop:  # the size, estimated up front, for a helpful limit error
            ratio = EXACT.divide(stop, start)
            estimate = int((EXACT.ln(ratio) / EXACT.ln(factor)).to_integral_value(ROUND_FLOOR)) + 1
            self.check_size(estimate, node.position)
        values = []
        value = start
        while (abs(value) <= abs(stop)) if grows else (abs(value) >= abs(stop)):
            values.append(value if value in (start, stop) else round15(value))
            self.check_size(len(values), node.position)
            value = EXACT.multiply(value, factor)
        return values

    def check_size(self, size: int, column: int) -> None:
        if size > self.max_values:
            shown = str(size) if size < 10**12 else f"about 10^{len(str(size)) - 1}"
            raise SweepSyntaxError(
                f"{shown} values, more than the limit of {self.max_values}", self.override, column,
                hint="split the sweep, or raise the limit "
                "(expand(..., max_values=N) in Python, hydraflow expand --max-values N)",
            )
