"""The sweep ``hydraflow sweep`` hands to the app's hydraflow sweeper.

``hydraflow sweep -- COMMAND ARGS...`` reads ARGS with the extended syntax
before the app starts, so that Hydra never sees an extended value (Hydra
applies every override that is not a sweep to a typed config before any
plugin runs). It writes the task overrides, as it read them, to a small
JSON file and names it in the environment variable ``HYDRAFLOW_SWEEP``; the
app's command line carries only the overrides that are the same in every
run, in plain Hydra form. The hydraflow sweeper then takes its batch groups
from the file instead of from the command line.

An environment variable rather than an override, as for ``HYDRAFLOW_REPLAY``:
Hydra checks overrides against its basic sweeper's config before the
launcher's callback swaps sweepers. The variable is taken out of the
environment once read, so that processes the app starts do not inherit it,
and the file records the command line's overrides: a variable inherited by
another app (whose command line differs) is refused, never run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

from hydraflow_core.errors import UsageError

ENV = "HYDRAFLOW_SWEEP"
FORMAT = "hydraflow-sweep"


@dataclass(frozen=True)
class HandedSweep:
    overrides: Tuple[str, ...]  # the task overrides, in the extended syntax, as `hydraflow expand` reads them
    command_line: Tuple[str, ...]  # the task overrides the app's command line carries (plain, in every run)


def write(path: os.PathLike, sweep: HandedSweep) -> Path:
    record = {"format": FORMAT, "overrides": list(sweep.overrides), "command_line": list(sweep.command_line)}
    Path(path).write_text(json.dumps(record) + "\n", encoding="utf-8")
    return Path(path)


def take() -> Optional[HandedSweep]:
    """The sweep this process was started for (``HYDRAFLOW_SWEEP``), if any; the variable is removed."""
    path = os.environ.pop(ENV, None)
    if not path:
        return None
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        if record.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        return HandedSweep(tuple(str(o) for o in record["overrides"]),
                           tuple(str(o) for o in record["command_line"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(f"{ENV}={path}: cannot read the sweep hydraflow sweep handed over: {error}") from None


def check_command_line(sweep: HandedSweep, arguments: Sequence[str]) -> None:
    """The app was started with the command line ``hydraflow sweep`` made (not an inherited variable)."""
    if tuple(arguments) != sweep.command_line:
        raise UsageError(
            f"{ENV} names a sweep started by hydraflow sweep with the overrides "
            f"[{' '.join(sweep.command_line)}], but this app was given [{' '.join(arguments)}]; "
            f"unset {ENV} to run the sweep of this command line")
