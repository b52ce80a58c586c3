"""Hydra's command-line text -> the text hydraflow's syntax reads.

The sweeper gets each override as typed (``hydra.overrides.task``). Before the
extended syntax reads it, three things only the plugin can do happen here:

- ``glob()`` is evaluated over the config group's options, as Hydra's basic
  sweeper evaluates it (the config loader's ``get_group_options`` filtered by
  Hydra's own ``Glob``);
- ``interval()`` is refused: it is sampled by an optimizing sweeper, not enumerated;
- a quoted item holding a keyed pipe (``lr='0.1,0.2|batch_size=3'``) is
  unquoted, since Hydra's grammar rejects ``=`` inside an unquoted value; a
  quoted item holding an unkeyed ``|`` stays one string, with a warning.
"""

from __future__ import annotations

import logging
from typing import Any, List, Optional

from hydra.core.object_type import ObjectType
from hydra.core.override_parser.types import Override, ValueType

from hydraflow_core.errors import HydraflowError, SweepSyntaxError
from hydraflow_core.syntax import tokens as t

log = logging.getLogger(__name__)

OPTIMIZING_SWEEPERS = "an optimizing sweeper (hydra/sweeper=optuna, nevergrad or ax)"


def prepare(arguments: List[str], parser: Any, loader: Any) -> List[str]:
    """Every argument ready for hydraflow's syntax (see the module docstring)."""
    return [_evaluate_hydra_functions(unquote_keyed_pipes(a), parser, loader) for a in arguments]


def evaluate_functions(arguments: List[str], parser: Any, loader: Any) -> List[str]:
    """Only Hydra's functions: for overrides Hydra never read (``hydraflow sweep`` hands them over)."""
    return [_evaluate_hydra_functions(a, parser, loader) for a in arguments]


def _evaluate_hydra_functions(text: str, parser: Any, loader: Any) -> str:
    """``glob(...)`` -> the matching options as a comma sweep; ``interval(...)`` -> an error.

    Only an override that Hydra's own parser reads as a glob or interval sweep
    is touched; anything else (extended syntax included) is returned as is.
    """
    try:
        override: Override = parser.parse_override(text)
    except Exception:  # extended syntax Hydra cannot read: hydraflow's parser reports it
        return text
    value_column = text.find("=") + 1
    if override.is_interval_sweep():
        raise SweepSyntaxError(
            "interval() is sampled by an optimizing sweeper, not run as a list of values", text, value_column,
            hint=f"use {OPTIMIZING_SWEEPERS} for it, or list values for hydraflow, "
                 f"e.g. {override.key_or_group}=0:1:0.25",
        )
    if override.value_type != ValueType.GLOB_CHOICE_SWEEP:
        return text
    group = override.key_or_group
    options = loader.get_group_options(group, results_filter=ObjectType.CONFIG)
    if not options:
        raise SweepSyntaxError(
            f"glob() needs a config group, and '{group}' is not one", text, value_column,
            hint="glob() picks options of a config group by name, e.g. model=glob(*)",
        )
    chosen = override.value().filter(options)
    if not chosen:
        raise SweepSyntaxError(
            f"glob() matches no option of config group '{group}'", text, value_column,
            hint=f"the options are: {', '.join(options)}",
        )
    return f"{override.get_key_element()}={','.join(chosen)}"


def unquote_keyed_pipes(override: str) -> str:
    """Drop the quotes around each whole item whose text is a keyed pipe.

    Grammar (the value after the first '='): ``item (',' item)*``; an item that
    is one quoted string ``'S'`` or ``"S"``, where ``S`` holds an unescaped
    ``|`` followed by ``KEY=``, becomes ``S``. A quoted item with an unescaped
    ``|`` but no ``KEY=`` after it stays a string (a warning says how to pipe).
    """
    equals = override.find("=")
    if equals < 0:
        return override
    try:
        tokens = t.tokenize(override, equals + 1)
    except HydraflowError:
        return override  # hydraflow's parser reports it, with a caret
    pieces = [override[: equals + 1]]
    for i, token in enumerate(tokens[:-1]):
        text = token.text
        before = tokens[i - 1].name if i else t.COMMA
        after = tokens[i + 1].name
        whole_item = before in (t.COMMA, t.PIPE, t.EQUALS) and after in (t.COMMA, t.PIPE, t.END)
        if token.name == t.QUOTED and whole_item:
            inner = text[1:-1].replace("\\" + text[0], text[0])
            kind = _pipe_kind(inner)
            if kind == "keyed":
                text = inner
            elif kind == "plain":
                log.warning(
                    f"hydraflow: {override} sets one string with '|' in it (it is quoted); "
                    f"for a pipe write it unquoted for Hydra: {override[:equals + 1]}{inner}"
                )
        pieces.append(text)
    return "".join(pieces)


def _pipe_kind(text: str) -> Optional[str]:
    """'keyed' if ``text`` has an unescaped '|' followed by KEY=, 'plain' for a '|' alone, else None."""
    try:
        tokens = t.tokenize(text, 0)
    except HydraflowError:
        return None
    pipes = [i for i, token in enumerate(tokens) if token.name == t.PIPE]
    if not pipes:
        return None
    for i in pipes:
        if tokens[i + 1].name == t.TEXT and tokens[i + 2 if i + 2 < len(tokens) else -1].name == t.EQUALS:
            return "keyed"
    return "plain"
