"""The terminal's console for the CLI's verbs (light: the status and results verbs import only this)."""

from __future__ import annotations

import os
import sys

from rich.console import Console


def make_console() -> Console:
    """Rich's console on a copy of the terminal's file descriptor 1.

    ``call`` jobs send fds 1 and 2 to each batch's log while the function
    runs; the live progress bar, drawn from rich's own thread, must keep
    drawing on the terminal, never into a log.
    """
    from hydraflow_core.cli.stdout import guard_stream

    sys.stdout.flush()
    stream = open(os.dup(sys.stdout.fileno()), "w", encoding=sys.stdout.encoding or "utf-8",
                  errors="replace", closefd=True)
    # Off a terminal (logs, CI) rich would wrap at 80 columns: let tables be as wide as they are.
    # On a pipe its reader may go away (| head): rich would end the process, the guard goes on.
    return Console(file=guard_stream(stream), highlight=False, width=None if stream.isatty() else 200)
