"""Shell quoting that stays readable: ``"b='1:2'"`` rather than shlex's ``'b='"'"'1:2'"'"''``."""

from __future__ import annotations

import re
import shlex
from typing import Iterable

_SAFE = re.compile(r"[\w@%+=:,./~-]+")  # nothing here is special to a POSIX shell (~ only leads)
_DOUBLE_QUOTE_SPECIAL = set('"$`\\!')


def quote(arg: str) -> str:
    """``arg`` quoted for a POSIX shell, as plainly as possible."""
    if arg and _SAFE.fullmatch(arg) and not arg.startswith("~"):
        return arg
    if "'" not in arg:
        return f"'{arg}'"
    if not _DOUBLE_QUOTE_SPECIAL & set(arg):
        return f'"{arg}"'
    return shlex.quote(arg)


def join(args: Iterable[str]) -> str:
    return " ".join(quote(a) for a in args)
