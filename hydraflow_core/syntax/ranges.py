"""Parse one range piece: ``[num] ':' num [':' step] [':' S]`` (SPEC 1.1).

A range is checked completely here -- numbers, units, direction, count -- so
that every mistake is reported with a caret before any run is produced.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import List, Optional, Tuple

from ..errors import SweepSyntaxError
from .nodes import Range
from .numbers import EXACT, SI_LETTERS, format_value, in_range, is_integral, parse_number, parse_plain

_FORM = "a range is START:STOP[:STEP][:S], e.g. 1:5, 0:1:0.25, 1m:5m, 1:1000:*10, 0:1:#5, 1:3:k"
_LETTERS = " ".join(SI_LETTERS)
_LIMITS = "numbers in a range must lie between 1e-1000 and 1e1000 in size"
# A last field that scales: one SI letter, or a power of ten (HydraFlow's 'eN').
_SCALE = re.compile(rf"[{''.join(SI_LETTERS)}]|[eE][+-]?\d{{1,4}}")


def parse_range(text: str, position: int, override: str) -> Range:
    """range := [num] ':' num [':' step] [':' scale]  |  num ':' scale

    step  := num | '*' num | '#' int
    scale := S | ('e'|'E') int     -- a field that is only this is never a bound
    """
    fields = _split_fields(text, position)
    scale, scale_field = Decimal(1), None
    if _SCALE.fullmatch(fields[-1][0]):
        scale_field = fields.pop()
        scale = _scale_value(scale_field[0])
    if len(fields) > 3:
        excess = fields[4 if scale_field is None and len(fields) > 4 else 3]
        column = excess[1] - 1  # the ':' that starts the first field too many
        if len(fields) == 4 and scale_field is None:
            letter, letter_pos = fields[3]
            raise SweepSyntaxError(
                f"'{letter}' is not an SI letter", override, letter_pos,
                hint=f"the last field of a range scales it by one of: {_LETTERS}, or by eN (10^N)",
            )
        raise SweepSyntaxError("too many ':' in range", override, column)
    if len(fields) == 1:  # 'N:S' scales one number (HydraFlow's form)
        return _scaled_number(text, position, fields[0], scale_field, scale, override)

    (start_text, start_pos), (stop_text, stop_pos) = fields[0], fields[1]
    step_field: Optional[Tuple[str, int]] = None
    if len(fields) == 3:
        if not fields[2][0]:
            raise SweepSyntaxError("range step is empty", override, fields[2][1], hint=_FORM)
        step_field = fields[2]

    if start_text:
        start, start_letter = _number(start_text, start_pos, "start", override)
    if not stop_text:
        raise SweepSyntaxError("range has no stop", override, stop_pos)
    stop, stop_letter = _number(stop_text, stop_pos, "stop", override)
    if not start_text:  # ':5m' starts at 0 in the stop's unit
        start, start_letter = Decimal(0), stop_letter

    spelled = [start_text, stop_text]
    lettered = start_letter is not None or stop_letter is not None
    if step_field is None or step_field[0][0] not in "*#":
        kind = "add"
        step, step_letter = _additive_step(
            step_field, (start_text, start_letter), (stop_text, stop_letter), stop_pos, override
        )
        lettered = lettered or step_letter
        _check_direction(start, stop, step, step_field, (stop_text, stop_pos), override)
        _check_jump(start, stop, step, step_field, (stop_text, stop_pos), override)
        if step_field is not None:
            spelled.append(step_field[0])
        step = EXACT.multiply(step, scale)
    elif step_field[0][0] == "*":
        kind = "mul"
        step = _factor(start, stop, step_field, override)
    else:
        kind = "count"
        step = _count(start, stop, step_field, override)
    start, stop = EXACT.multiply(start, scale), EXACT.multiply(stop, scale)
    if not (in_range(start) and in_range(stop)):
        raise SweepSyntaxError("range bounds are out of range once scaled", override, position,
                               hint=_LIMITS)
    scaled = bool(lettered) or scale_field is not None
    floats = not scaled and any(_written_as_float(s) for s in spelled)
    return Range(text=text, position=position, start=start, stop=stop, kind=kind, step=step,
                 scaled=scaled, floats=floats)


def _scale_value(text: str) -> Decimal:
    if text in SI_LETTERS:
        return SI_LETTERS[text]
    return Decimal(f"1e{text[1:]}")


def _written_as_float(text: str) -> bool:
    """Hydra reads a number written with a point or an exponent as a float."""
    return "." in text or "e" in text or "E" in text


def _scaled_number(text, position, field, scale_field, scale, override) -> Range:
    """``N:S``: one number scaled by a letter or a power of ten (``1:k`` is 1000)."""
    number_text, column = field
    if not number_text:
        raise SweepSyntaxError(
            f"no number before ':{scale_field[0]}'", override, scale_field[1] - 1,
            hint=f"N:{scale_field[0]} scales one number, e.g. 1:{scale_field[0]}; "
            f"a range is START:STOP:{scale_field[0]}",
        )
    value, _ = _number(number_text, column, "number", override)
    value = EXACT.multiply(value, scale)
    if not in_range(value):
        raise SweepSyntaxError("number is out of range once scaled", override, position, hint=_LIMITS)
    return Range(text=text, position=position, start=value, stop=value, kind="add",
                 step=Decimal(1), scaled=True, floats=False)


def _split_fields(text: str, position: int) -> List[Tuple[str, int]]:
    """The ':'-separated fields of ``text``, stripped, each with its column."""
    fields = []
    offset = 0
    for raw in text.split(":"):
        stripped = raw.strip()
        lead = len(raw) - len(raw.lstrip())
        fields.append((stripped, position + offset + lead))
        offset += len(raw) + 1
    return fields


def _number(text: str, column: int, what: str, override: str) -> Tuple[Decimal, Optional[str]]:
    parsed = parse_number(text)
    if parsed is None:
        raise SweepSyntaxError(
            f"range {what} '{text}' is not a number", override, column,
            hint=f"{_FORM}; to pass text with ':', quote it or escape each colon as '\\:'",
        )
    if not in_range(parsed[0]):
        raise SweepSyntaxError(f"range {what} '{text}' is out of range", override, column, hint=_LIMITS)
    return parsed


def _additive_step(step_field, start, stop, stop_pos: int, override: str):
    """``(step, letter)``, the step in absolute terms: a step without a letter is in the bounds' unit."""
    (start_text, start_letter), (stop_text, stop_letter) = start, stop
    if step_field is not None:
        value, letter = _number(step_field[0], step_field[1], "step", override)
        if letter is not None:
            return value, letter
    else:
        value = Decimal(1)
    if start_letter != stop_letter:
        column = step_field[1] if step_field else stop_pos
        raise SweepSyntaxError(
            f"range bounds '{start_text}' and '{stop_text}' have different SI letters",
            override, column,
            hint="give the step its own letter, e.g. 1m:1:100m",
        )
    unit = SI_LETTERS[stop_letter] if stop_letter else Decimal(1)
    return EXACT.multiply(value, unit), None


def _check_direction(start, stop, step, step_field, stop_field, override: str) -> None:
    text, column = step_field or stop_field
    if step == 0:
        raise SweepSyntaxError("range step is 0", override, column, hint=_FORM)
    if start != stop and (step > 0) != (stop > start):
        hint = "count down with a negative step, e.g. 5:1:-1" if step > 0 else "count up with a positive step"
        problem = (f"range step '{text}' moves away from the stop" if step_field
                   else f"the default step moves away from the stop '{text}'")
        raise SweepSyntaxError(problem, override, column, hint=hint)


def _check_jump(start, stop, step, step_field, stop_field, override: str) -> None:
    """A step that passes the stop in one jump gives the start alone: with a letter on the step
    (``1m:5m:1k``) or with the default step (``0.1:0.5``) that is nearly always a mistake, so an
    error. A plain step may (``1:2:3:e-3`` is 0.001, as in HydraFlow; ``range(1,2,3)`` is 1 in Hydra)."""
    if start == stop or abs(step) <= abs(stop - start):
        return
    if step_field is not None and not step_field[0][-1:] in SI_LETTERS:
        return
    text, column = step_field or stop_field
    distance = format_value(abs(stop - start), as_int=is_integral(stop - start))
    if step_field:
        problem = f"range step '{text}' jumps past the stop from the start"
        hint = (f"the bounds are {distance} apart; check the step's SI letter "
                "(1m:5m:1m steps by 0.001), or write one value without ':'")
    else:
        problem = f"the default step 1 jumps past the stop '{text}'"
        hint = f"the bounds are {distance} apart; give a smaller step, e.g. 0:0.5:0.1"
    raise SweepSyntaxError(problem, override, column, hint=hint)


def _factor(start, stop, field, override: str) -> Decimal:
    text, column = field
    factor = parse_plain(text[1:])
    if factor is None:
        raise SweepSyntaxError(f"range factor '{text}' is not a number", override, column, hint=_FORM)
    if not in_range(factor):
        raise SweepSyntaxError(f"range factor '{text}' is out of range", override, column, hint=_LIMITS)
    if factor <= 0 or factor == 1:
        raise SweepSyntaxError(
            f"range factor '{text}' must be above 0 and not 1", override, column,
            hint="a geometric range multiplies by its factor, e.g. 1:1000:*10 or 1:0.001:*0.1",
        )
    if start == 0 or stop == 0 or (start > 0) != (stop > 0):
        raise SweepSyntaxError(
            "a geometric range must not start at, reach or cross 0", override, column,
            hint="use bounds of the same sign, e.g. 1e-4:1:*10",
        )
    if start != stop and (abs(stop) > abs(start)) != (factor > 1):
        raise SweepSyntaxError(f"range factor '{text}' moves away from the stop", override, column)
    return factor  # a factor that passes the stop at once gives the start alone, as a plain step does


def _count(start, stop, field, override: str) -> Decimal:
    text, column = field
    count = parse_plain(text[1:])
    least = 1 if start == stop else 2
    if count is None or count != count.to_integral_value() or count < least:
        raise SweepSyntaxError(
            f"range count '{text}' must be a whole number of at least {least}", override, column,
            hint="'#n' gives n evenly spaced points, both bounds included, e.g. 0:1:#5 "
            "('#1' only when both bounds are equal)",
        )
    return count

