"""Shell quoting that stays readable: ``"b='1:2'"`` rather than shlex's ``'b='"'"'1:2'"'"''``.

A word holding a newline or another control character is written in bash's
ANSI-C quoting (``$'a\\nb'``), so a quoted word never spans two lines: a
handler reading ``batches.txt`` line by line gets whole batches, and the text
after a newline can never run as shell code.
"""

from __future__ import annotations

import re
import shlex
from typing import Iterable, List

# Characters that make shlex differ from str.split: quotes, escapes (comments are off in shlex.split).
_SHELL_SPECIAL = re.compile(r"[\\'\"]")
_SAFE = re.compile(r"[\w@%+=:,./~-]+")  # nothing here is special to a POSIX shell (~ only leads)
_DOUBLE_QUOTE_SPECIAL = set('"$`\\!')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ANSI_C_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(arg: str) -> str:
    """``arg`` quoted for a POSIX shell, as plainly as possible."""
    if arg and _SAFE.fullmatch(arg) and not arg.startswith("~"):
        return arg
    if _CONTROL.search(arg):
        return ansi_c_quote(arg)
    if "'" not in arg:
        return f"'{arg}'"
    if not _DOUBLE_QUOTE_SPECIAL & set(arg):
        return f'"{arg}"'
    return shlex.quote(arg)


def join(args: Iterable[str]) -> str:
    return " ".join(quote(a) for a in args)


def ansi_c_quote(arg: str) -> str:
    """``arg`` as bash's ``$'...'``: one line whatever it holds (bash, zsh and ksh read it)."""
    out = []
    for char in arg:
        if char in _ANSI_C_ESCAPES:
            out.append(_ANSI_C_ESCAPES[char])
        elif _CONTROL.fullmatch(char):
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "$'" + "".join(out) + "'"


def split(text: str) -> List[str]:
    """``text`` split into words as the shell would (``ValueError`` for an open quote)."""
    if not _SHELL_SPECIAL.search(text):  # plain words: shlex would give the same, in quadratic time
        return [w for w in re.split(r"[ \t\r\n]+", text) if w]  # shlex's whitespace, not Unicode's
    return shlex.split(text)
