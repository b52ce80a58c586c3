"""Hydra's own override parser, for what hydraflow passes through.

Hydra's sweep functions (``range()``, ``choice()``, ``sort()``, ``shuffle()``,
``tag()`` and casts of them) are evaluated by Hydra itself, and every atom is
checked by Hydra's parser, so hydraflow accepts nothing that Hydra would then
reject. Only hydra-core's public ``hydra.core.override_parser`` is used.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Tuple

# Functions Hydra can only resolve later (glob needs the config loader, an
# interval is sampled by a sweeper): they stay verbatim.
VERBATIM_FUNCTIONS = frozenset({"glob", "interval"})


@lru_cache(maxsize=1)
def _parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def hydra_error(override: str) -> Optional[str]:
    """Hydra's message if its parser rejects ``override``, else None."""
    try:
        _parser().parse_override(override)
    except Exception as error:  # Hydra raises several types, all mean "rejected"
        return _first_line(error)
    return None


def call_values(call: str) -> Tuple[Optional[Tuple[str, ...]], Optional[str]]:
    """``(values, None)`` for a Hydra function call, or ``(None, message)``.

    A discrete sweep gives its values as Hydra's BasicSweeper writes them; any
    other call (a cast of one value, ``interval``) gives itself, verbatim.
    """
    try:
        override = _parser().parse_override(f"x={call}")
    except Exception as error:
        return None, _first_line(error)
    if override.is_discrete_sweep():
        return tuple(override.sweep_string_iterator()), None
    return (call,), None


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].strip()
