"""Recursive-descent parser for the value of one override (SPEC 1).

Each ``_parse_*`` method's docstring states its grammar rule. The parser only
builds the tree (:mod:`.nodes`); values are computed by :mod:`.evaluate`.
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

from ..errors import SweepSyntaxError
from . import tokens as t
from .nodes import Atom, Call, Group, Item, Piece, Section, Sweep
from .numbers import SI_LETTERS
from .ranges import parse_range

# Hydra's ID token: the name of a function such as range(...) or choice(...).
_FUNCTION_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_\-]*)\s*")
# A key written at the start of a pipe section: [~|+|++] path [@package].
SECTION_KEY = re.compile(r"\s*(?:~|\+\+?)?[A-Za-z0-9_$][\w$\-./]*(?:@[\w$\-./]*)?\s*")
#: Deepest nesting of '(..)' groups (and of [..], {..} in atoms, see tokens).
MAX_DEPTH = t.MAX_DEPTH
_ITEM_END = {t.COMMA, t.PIPE, t.RPAREN, t.END}
_ATOM_TOKENS = {t.TEXT, t.ESCAPE, t.QUOTED, t.NESTED}


def parse_value(override: str, start: int) -> Tuple[Section, ...]:
    """The sections of the value that starts at column ``start`` of ``override``."""
    return _Parser(override, t.tokenize(override, start)).parse_expr()


def starts_numeric(text: str) -> bool:
    """True for text that starts like a number or a range: a digit, sign, ':' or '.5'."""
    return bool(text) and (text[0] in "0123456789+-:" or (text[0] == "." and text[1:2].isdigit()))


class _Parser:
    def __init__(self, override: str, tokens: List[t.Token]) -> None:
        self.override = override
        self.tokens = tokens
        self.index = 0
        self.depth = 0  # groups open around the current position

    # -- token verbs ---------------------------------------------------------

    def peek(self, offset: int = 0) -> t.Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def check(self, name: str) -> bool:
        return self.peek().name == name

    def consume(self) -> t.Token:
        token = self.peek()
        self.index += 1
        return token

    def error(self, problem: str, column: int, hint: str = "") -> SweepSyntaxError:
        return SweepSyntaxError(problem, self.override, column, hint)

    # -- grammar -------------------------------------------------------------

    def parse_expr(self) -> Tuple[Section, ...]:
        """expr := sweep ('|' section)*"""
        sections = [Section(None, self.peek().position, self._parse_sweep())]
        while self.check(t.PIPE):
            self.consume()
            sections.append(self._parse_section())
        token = self.peek()
        if token.name == t.RPAREN:
            raise self.error("unmatched ')'", token.position, hint="remove it, or open a group with '('")
        if token.name == t.EQUALS:
            raise self.error(
                "unexpected '='", token.position,
                hint="quote a value that holds '=', e.g. a='x=1'",
            )
        if len(sections) > 1:
            for section in sections:
                if not section.sweep.items[0].pieces:
                    raise self.error(
                        "empty '|' section", section.sweep.position,
                        hint="every section needs a value, e.g. a=1|2",
                    )
        return tuple(sections)

    def _parse_section(self) -> Section:
        """section := [KEY '='] sweep"""
        key: Optional[str] = None
        position = self.peek().position
        if self.check(t.TEXT) and self.peek(1).name == t.EQUALS:
            text = self.peek().text
            if SECTION_KEY.fullmatch(text) is None:
                raise self.error(f"'{text.strip()}' is not a key", position)
            key = text.strip()
            position += len(text) - len(text.lstrip())
            self.consume()
            self.consume()
        return Section(key, position, self._parse_sweep())

    def _parse_sweep(self) -> Sweep:
        """sweep := item (',' item)*"""
        position = self.peek().position
        items = [self._parse_item()]
        while self.check(t.COMMA):
            comma = self.consume()
            if not items[-1].pieces:
                raise self.error("empty value before ','", comma.position)
            items.append(self._parse_item())
            if not items[-1].pieces:
                raise self.error("empty value after ','", comma.position)
        return Sweep(tuple(items), position)

    def _parse_item(self) -> Item:
        """item := piece+   (or one Hydra function call: ID '(' ... ')')"""
        position = self.peek().position
        call = self._parse_call()
        if call is not None:
            return Item((call,), call.position)
        pieces: List[Piece] = []
        while self.peek().name not in _ITEM_END and self.peek().name != t.EQUALS:
            piece = self._parse_piece(first=not pieces)
            if not (isinstance(piece, Atom) and not piece.text):  # whitespace alone
                pieces.append(piece)
        return Item(tuple(pieces), pieces[0].position if pieces else position)

    def _parse_call(self) -> Optional[Call]:
        """call := ID '(' ... ')'   -- the whole item, handed to Hydra's parser"""
        token = self.peek()
        if token.name != t.TEXT or self.peek(1).name != t.LPAREN:
            return None
        match = _FUNCTION_NAME.fullmatch(token.text)
        if match is None:
            return None
        start = token.position + match.start(1)
        self.consume()
        opening = self.consume()
        depth = 1
        while depth:
            token = self.consume()
            if token.name == t.END:
                raise self.error("unclosed '('", opening.position, hint="close the call with ')'")
            depth += {t.LPAREN: 1, t.RPAREN: -1}.get(token.name, 0)
        end = token.end
        trailing = self.peek()
        if trailing.name == t.TEXT and not trailing.text.strip():
            self.consume()
            trailing = self.peek()
        if trailing.name not in _ITEM_END:
            raise self.error(
                f"unexpected text after {match.group(1)}(...)", trailing.position,
                hint="a Hydra function call must be a whole value; to concatenate, "
                "write a group such as (a)_(b,c)",
            )
        return Call(match.group(1), self.override[start:end], start)

    def _parse_piece(self, first: bool) -> Piece:
        """piece := '(' sweep ')' [S] | range | atom"""
        token = self.peek()
        if token.name == t.LPAREN:
            return self._parse_group()
        if token.name == t.EQUALS:  # pragma: no cover - stopped by the caller
            raise self.error("unexpected '='", token.position)
        return self._parse_atom_or_range(first)

    def _parse_group(self) -> Group:
        """group := '(' sweep ')' [S]"""
        opening = self.consume()
        if self.depth >= MAX_DEPTH:  # the parser recurses once per level
            raise self.error(
                f"groups nested deeper than {MAX_DEPTH}", opening.position,
                hint="flatten the groups; each level of '(..)' multiplies values only once",
            )
        self.depth += 1
        sweep = self._parse_sweep()
        self.depth -= 1
        if not sweep.items[0].pieces and len(sweep.items) == 1:
            raise self.error("empty group '()'", opening.position)
        token = self.peek()
        if token.name == t.EQUALS:
            raise self.error(
                "unexpected '='", token.position,
                hint="quote a value that holds '=', e.g. a='x=1'",
            )
        if token.name == t.PIPE:
            raise self.error(
                "'|' inside a group", token.position,
                hint="pipes split a whole value: write a=(1,2)|(3,4), not a=(1|2)",
            )
        if token.name != t.RPAREN:
            raise self.error("unclosed '('", opening.position, hint="close the group with ')'")
        self.consume()
        letter = None
        after = self.peek()
        if after.name == t.TEXT and after.text in SI_LETTERS and self.peek(1).name in _ITEM_END:
            letter = after.text
            self.consume()
        return Group(sweep, opening.position, letter)

    def _parse_atom_or_range(self, first: bool) -> Piece:
        """atom := (TEXT | ESCAPE | QUOTED | NESTED)+   -- a range if it looks like one"""
        run = []
        while self.peek().name in _ATOM_TOKENS:
            run.append(self.consume())
        start, end = run[0].position, run[-1].end
        if run[-1].name == t.TEXT and self.peek().name in _ITEM_END | {t.EQUALS}:
            # Whitespace around an item is not part of it (as in Hydra); an
            # escaped space or tab ('ab\ ') is an ESCAPE token, never stripped.
            end = run[-1].position + len(run[-1].text.rstrip())
        text = self.override[start:end]
        if first:
            stripped = text.lstrip()
            start += len(text) - len(stripped)
            text = stripped
        has_colon = any(tok.name == t.TEXT and ":" in tok.text for tok in run)
        if has_colon and starts_numeric(text):
            if len(run) > 1:
                odd = next(tok for tok in run if tok.name != t.TEXT)
                raise self.error(
                    "invalid range", odd.position,
                    hint="a range holds only numbers; to pass text with ':', quote the whole "
                    "value or escape each colon as '\\:'",
                )
            return parse_range(text.rstrip(), start, self.override)
        return Atom(text, start)


def unquote_groups(override: str) -> str:
    """Drop the quotes around each whole item whose text starts with '(' (a group).

    Hydra's grammar rejects a value that starts with '(' unless it is quoted, so
    on Hydra's command line ``model='(cnn,vit)_(small,large)'`` is how a group
    reaches the sweeper; the sweeper reads it without the quotes.
    """
    equals = override.find("=")
    if equals < 0:
        return override
    tokens = t.tokenize(override, equals + 1)
    pieces = [override[: equals + 1]]
    for i, token in enumerate(tokens[:-1]):
        before = tokens[i - 1].name if i else t.COMMA
        after = tokens[i + 1].name
        text = token.text
        if (token.name == t.QUOTED and before in (t.COMMA, t.PIPE, t.EQUALS)
                and after in (t.COMMA, t.PIPE, t.END) and text[1:2] == "("):
            quote = text[0]
            text = text[1:-1].replace("\\" + quote, quote)
        pieces.append(text)
    return "".join(pieces)
