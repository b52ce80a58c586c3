"""A ``submit`` job: the batches file handed to the scheduler, and the submit command that reads it."""

from __future__ import annotations

import re
import shlex
from typing import List

from hydraflow_core.jobs.batches import Plan
from hydraflow_core.jobs.shell import join as shell_join

#: Placeholders of a ``submit`` command; the batches file's path is appended when none is used.
SUBMIT_PLACEHOLDERS = ("file", "count", "last")
# '{{' and '}}' are literal braces, '${...}' is the shell's, '{name}' is a placeholder.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\$\{[^}]*\}|\{(\w*)\}")


def batches_file_text(plan: Plan) -> str:
    """One batch per line, shell-quoted: the file ``submit`` hands to the scheduler.

    A value holding a newline is written in bash's ``$'...'`` quoting, so every
    batch stays on its one line (see :func:`.shell.quote`). A job in HydraFlow
    0.23's schema starts each line with ``--multirun``, as 0.23 did.
    """
    return "".join(shell_join((*plan.job.lead, *batch.arguments)) + "\n" for batch in plan.batches)


def submit_placeholders(command: str) -> List[str]:
    """The ``{name}`` placeholders of a submit command (``{{``, ``}}`` and ``${...}`` are not)."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(command) if m.group(1) is not None]


def submit_command(plan: Plan) -> List[str]:
    """The submit command's words with ``{file}``, ``{count}``, ``{last}`` filled in.

    Without any placeholder the batches file's path is appended, as before.
    """
    path = f"{plan.run_dir}/batches.txt"
    values = {"file": path, "count": str(len(plan.batches)), "last": str(len(plan.batches) - 1)}
    words = shlex.split(plan.job.target)
    if not submit_placeholders(plan.job.target):
        return [*words, path]

    def fill(match: "re.Match") -> str:
        if match.group(1) is None:
            return {"{{": "{", "}}": "}"}.get(match.group(0), match.group(0))
        return values[match.group(1)]  # the loader rejected unknown names

    return [_PLACEHOLDER.sub(fill, word) for word in words]
