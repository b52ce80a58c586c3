"""Tokenizer for the value part of one override (the text after ``KEY=``).

Tokens that Hydra's own grammar treats as one unit -- quoted strings, lists
``[..]``, dicts ``{..}``, interpolations ``${..}`` and backslash escapes -- are
single tokens here, so a comma or colon inside them is never seen by the
parser. Positions are columns in the whole override, for carets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from ..errors import SweepSyntaxError

# Token names.
TEXT = "TEXT"  # a run of ordinary characters (may contain ':' and spaces)
ESCAPE = "ESCAPE"  # backslash + one character
QUOTED = "QUOTED"  # '...' or "..."
NESTED = "NESTED"  # [..], {..} or ${..}
LPAREN = "("
RPAREN = ")"
COMMA = ","
PIPE = "|"
EQUALS = "="
END = "END"

#: Deepest nesting of '(..)', '[..]', '{..}' accepted (Hydra's parser recurses per level).
MAX_DEPTH = 50

_SINGLE = {"(": LPAREN, ")": RPAREN, ",": COMMA, "|": PIPE, "=": EQUALS}
_CLOSERS = {"[": "]", "{": "}"}


@dataclass(frozen=True)
class Token:
    name: str
    text: str
    position: int  # column of the token's first character in the override

    @property
    def end(self) -> int:
        return self.position + len(self.text)


def tokenize(override: str, start: int) -> List[Token]:
    """Tokens of ``override[start:]``, ending with an END token."""
    tokens: List[Token] = []
    i = start
    n = len(override)
    while i < n:
        c = override[i]
        if c in _SINGLE:
            tokens.append(Token(_SINGLE[c], c, i))
            i += 1
            continue
        if c == "\\":
            j = min(i + 2, n)
            tokens.append(Token(ESCAPE, override[i:j], i))
        elif c in "'\"":
            j = _skip_quoted(override, i)
            tokens.append(Token(QUOTED, override[i:j], i))
        elif c in _CLOSERS or override.startswith("${", i):
            j = _skip_nested(override, i)
            tokens.append(Token(NESTED, override[i:j], i))
        else:
            j = i + 1
            while j < n and not _starts_token(override, j):
                j += 1
            tokens.append(Token(TEXT, override[i:j], i))
        i = j
    tokens.append(Token(END, "", n))
    return tokens


def _starts_token(text: str, i: int) -> bool:
    c = text[i]
    return c in _SINGLE or c in "\\'\"" or c in _CLOSERS or text.startswith("${", i)


def _skip_quoted(text: str, start: int) -> int:
    """Index just past the quoted string that starts at ``start``.

    As in Hydra's lexer, a backslash escapes the next character.
    """
    quote = text[start]
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise SweepSyntaxError(
        f"unclosed {quote} quote", text, start, hint=f"close the string with {quote}"
    )


def _skip_nested(text: str, start: int) -> int:
    """Index just past the ``[..]``, ``{..}`` or ``${..}`` that starts at ``start``."""
    opener = "${" if text.startswith("${", start) else text[start]
    stack = [_CLOSERS[opener[-1]]]
    i = start + len(opener)
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c in "'\"":
            i = _skip_quoted(text, i)
            continue
        if c in _CLOSERS:
            if len(stack) >= MAX_DEPTH:
                raise SweepSyntaxError(
                    f"'{c}' nested deeper than {MAX_DEPTH}", text, i,
                    hint="Hydra's parser cannot read deeper lists or dicts",
                )
            stack.append(_CLOSERS[c])
        elif c == stack[-1]:
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    raise SweepSyntaxError(
        f"unclosed '{opener}'", text, start, hint=f"close it with '{_CLOSERS[opener[-1]]}'"
    )
