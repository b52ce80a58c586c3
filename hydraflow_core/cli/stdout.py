"""A closed stdout is not an error storm, nor a silent stop.

When the reader of a sweep's stdout goes away (``python train.py -m ... | head -3``)
every later write there fails with BrokenPipeError: each log record of
Hydra's console handlers prints a "--- Logging error ---" traceback on
stderr (hundreds of lines), a ``print()`` in a task fails its run, and in the
``hydraflow`` command the first ``print()`` would end it before it started
anything (rich's console exits with 1).

:func:`guard_stdout` puts a thin wrapper in place of ``sys.stdout`` (Hydra's
logging configs name ``ext://sys.stdout``, so every handler configured later,
for each run too, writes through it; the handlers configured already are
pointed at it); :func:`guard_stream` wraps another stream on the same pipe
(the ``hydraflow`` command's rich console). On the first BrokenPipeError the
stream's descriptor, and descriptor 1 when it is the same pipe, are pointed
at ``os.devnull``, so nothing more is written there, nothing fails, and a
program started later inherits ``os.devnull``; one line on stderr says what
happened: once per process and the workers it forks (they share the flag).
The runs' own logs, in their output directories, are not touched, and the
sweep goes on. A read-only command (``hydraflow status``) guards its stream
with no note: it stops writing quietly and keeps its exit code.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import stat
import sys
from typing import Any, Iterable, Optional

#: The start of the note (tests look for it).
NOTE = "hydraflow: stdout was closed by its reader (such as | head); nothing more is written there"

# Shared with forked workers, and by every guarded stream of this process: the note is said once for all.
_SAID = mmap.mmap(-1, 1)


class GuardedStdout:
    """A stream (``sys.stdout``) that stops writing, and says so once, when its reader has gone."""

    def __init__(self, stream: Any, note: Optional[str]) -> None:
        self._stream = stream
        self._note = note  # None: stop quietly
        self.gone = False  # the reader has gone: nothing more is written

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
        self.gone = True
        descriptor = self._stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            for target in {descriptor, *([1] if descriptor != 1 and _same_file(descriptor, 1) else [])}:
                os.dup2(devnull, target)
        finally:
            os.close(devnull)
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()  # what was still buffered goes to os.devnull
        if self._note and _SAID[0] == 0:
            _SAID[0] = 1
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(self._note + "\n")
                sys.stderr.flush()


def sweep_note(what: str) -> str:
    """The note for a closed stdout: what goes on (``the sweep goes on, and each run's log is in ...``)."""
    return f"{NOTE}, {what}"


def guard_stdout(sweep_dir: Optional[str] = None, note: Optional[str] = None) -> None:
    """Install :class:`GuardedStdout` in this process (once), when stdout is a pipe or a socket.

    ``note``: what the line on stderr says (default: the sweep of ``sweep_dir`` goes on)."""
    raw = sys.stdout
    if raw is None or isinstance(raw, GuardedStdout) or not _is_pipe(raw):
        return  # a terminal, a file, or a stream of pytest's or Jupyter's: left as it is
    if note is None:
        note = sweep_note(f"the sweep goes on, and each run's log is in its output directory under {sweep_dir}")
    guarded = GuardedStdout(raw, note)
    sys.stdout = guarded
    for handler in _stream_handlers():
        if handler.stream is raw:
            handler.stream = guarded


def guard_stream(stream: Any) -> Any:
    """``stream`` (on a pipe) guarded as ``sys.stdout`` is: with its note when that is guarded, else quietly."""
    if not _is_pipe(stream):
        return stream
    note = sys.stdout._note if isinstance(sys.stdout, GuardedStdout) else None
    return GuardedStdout(stream, note)


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


def _same_file(first: int, second: int) -> bool:
    try:
        a, b = os.fstat(first), os.fstat(second)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _stream_handlers() -> Iterable[logging.StreamHandler]:
    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                        if isinstance(logger, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                yield handler
