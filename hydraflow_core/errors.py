"""Every error hydraflow reports to a user.

Front ends (the CLI, the Hydra sweeper) catch :class:`HydraflowError`, print
``str(error)`` and exit with code 2: no traceback for bad input.
"""

from __future__ import annotations

from typing import Iterable


class HydraflowError(Exception):
    """Base of every error caused by user input."""


class SweepSyntaxError(HydraflowError, ValueError):
    """Bad extended sweep syntax in one override.

    ``str()`` gives the problem, then the override indented by four spaces with
    a caret under the offending column, then an optional hint::

        unclosed '(' in override
            model=(cnn,vit_small
                  ^
    """

    def __init__(self, problem: str, override: str, column: int, hint: str = "") -> None:
        self.problem = problem
        self.override = override
        self.column = max(0, min(column, len(override)))
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        shown, column = _window(self.override.replace("\t", " "), self.column)  # a tab would shift the caret
        lines = [f"{self.problem} in override", "    " + shown, "    " + " " * column + "^"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __reduce__(self):  # keep the error picklable (subprocess / submitit workers)
        return (type(self), (self.problem, self.override, self.column, self.hint))



def shorten(text: str, width: int = 60) -> str:
    """``text`` for a message: a long value is cut, with '...' (the caret line shows where)."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _window(text: str, column: int, width: int = 60) -> "tuple[str, int]":
    """A long override cut to ``width`` characters either side of the caret, marked with '...'."""
    if len(text) <= 2 * width + 40:
        return text, column
    start, end = max(0, column - width), min(len(text), column + width)
    head, tail = ("..." if start else ""), ("..." if end < len(text) else "")
    return head + text[start:end] + tail, column - start + len(head)


class JobFileError(HydraflowError):
    """Problems in ``hydraflow.yaml``: every one found, each as ``FILE:LINE: dotted.key: message``."""

    def __init__(self, problems: "list[str]") -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(self.problems)

    def __reduce__(self):
        return (type(self), (self.problems,))


class UsageError(HydraflowError):
    """A command used wrongly: unknown job, missing file, bad option value."""


class ResourceError(UsageError):
    """A run's Slurm settings cannot be resolved, or resolve to a bad value (names the run and the field)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to a mistyped ``word``, or nothing."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
