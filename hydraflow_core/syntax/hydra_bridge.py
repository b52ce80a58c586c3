"""Hydra's own override parser, for what hydraflow passes through.

Every atom is checked by Hydra's parser, so hydraflow accepts nothing that
Hydra would then reject; Hydra's function calls are read by it too (their
values: :mod:`.hydra_calls`, which also holds the parser with a fixed ``sort()``). Only hydra-core's public
``hydra.core.override_parser`` is used.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

# Functions Hydra can only resolve later (glob needs the config loader, an
# interval is sampled by a sweeper): they stay verbatim.
VERBATIM_FUNCTIONS = frozenset({"glob", "interval"})

# Text that Hydra's lexer reads as one unquoted string whatever its length
# (IDs, numbers, spaces and the characters Hydra allows unquoted): checking
# it needs no parser, and Hydra's parser takes seconds on megabytes of it.
PLAIN_TEXT = re.compile(r"[A-Za-z0-9_\-/+.$%*@?| \t:]*")


@lru_cache(maxsize=1)
def parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def hydra_error(override: str) -> Optional[str]:
    """Hydra's message if its parser rejects ``override``, else None."""
    try:
        parser().parse_override(override)
    except Exception as error:  # Hydra raises several types, all mean "rejected"
        return first_line(error)
    return None


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].strip()
