"""A closed stdout is not an error storm.

When the reader of a sweep's stdout goes away (``python train.py -m ... | head -3``)
every later write there fails with BrokenPipeError: each log record of
Hydra's console handlers prints a "--- Logging error ---" traceback on
stderr (hundreds of lines), and a ``print()`` in a task fails its run.

:func:`guard_stdout` puts a thin wrapper in place of ``sys.stdout`` (Hydra's
logging configs name ``ext://sys.stdout``, so every handler configured later,
for each run too, writes through it; the handlers configured already are
pointed at it). On the first BrokenPipeError the process's stdout descriptor
is pointed at ``os.devnull``, so nothing more is written there and nothing
fails, and one line on stderr says what happened: once for the launcher and
the workers it forks (they share the flag). The runs' own logs, in their
output directories, are not touched, and the sweep goes on.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import stat
import sys
from typing import Any, Iterable


class GuardedStdout:
    """``sys.stdout`` that stops writing, and says so once, when its reader has gone."""

    def __init__(self, stream: Any, note: str) -> None:
        self._stream = stream
        self._note = note
        self._said = mmap.mmap(-1, 1)  # shared with forked workers: the note is said once for all

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._reader_gone()
            return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_gone()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer ...: the real stream's
        return getattr(self._stream, name)

    def _reader_gone(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()  # what was still buffered goes to os.devnull
        if self._said[0] == 0:
            self._said[0] = 1
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(self._note + "\n")
                sys.stderr.flush()


def guard_stdout(sweep_dir: str) -> None:
    """Install :class:`GuardedStdout` in this process (once), when stdout is a pipe or a socket."""
    raw = sys.stdout
    if raw is None or isinstance(raw, GuardedStdout) or not _is_pipe(raw):
        return  # a terminal, a file, or a stream of pytest's or Jupyter's: left as it is
    guarded = GuardedStdout(raw, f"hydraflow: stdout was closed by its reader (such as | head); nothing more is "
                                 f"written there, the sweep goes on, and each run's log is in its output "
                                 f"directory under {sweep_dir}")
    sys.stdout = guarded
    for handler in _stream_handlers():
        if handler.stream is raw:
            handler.stream = guarded


def release_stdout() -> None:
    """The sweep is over: ``sys.stdout`` is the real stream again (an app may run more than one sweep)."""
    if isinstance(sys.stdout, GuardedStdout):
        sys.stdout = sys.stdout._stream


def _is_pipe(stream: Any) -> bool:
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _stream_handlers() -> Iterable[logging.StreamHandler]:
    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                        if isinstance(logger, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                yield handler
