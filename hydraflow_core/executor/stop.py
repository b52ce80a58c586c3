"""Stopping on SIGINT, SIGTERM and SIGHUP, the same way in the CLI and the plugin.

The first signal raises :class:`Stopped` in the main thread: the executor
then stops what runs (a grace period, then SIGKILL), records it, and the front
end prints its summary and exits 128 + the signal number (130, 143, 129).
A second signal during that grace period kills everything at once; it never
raises again (no traceback from inside the clean-up).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator, List, Optional

SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived (a KeyboardInterrupt, so code that stops on Ctrl-C stops on it too)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.on_force: List[Callable[[], None]] = []


_state = _State()


def stopping() -> Optional[int]:
    """The stop signal received so far, if any."""
    return _state.signum


def on_second_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (e.g. kill every process) if a second stop signal arrives."""
    _state.on_force.append(callback)
    return lambda: _state.on_force.remove(callback) if callback in _state.on_force else None


def _handler(signum, frame) -> None:
    if _state.signum is None:
        _state.signum = signum
        raise Stopped(signum)
    for callback in list(_state.on_force):  # the second signal: no more waiting
        with contextlib.suppress(Exception):
            callback()


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """While inside, stop signals raise :class:`Stopped` once; the old handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can take signals
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _state.signum = None
    _state.on_force = []
    for s in SIGNALS:
        if previous[s] is signal.SIG_IGN and s != signal.SIGINT:
            continue  # nohup: SIGHUP stays ignored
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _state.on_force = []


def exit_code(error: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return error.exit_code if isinstance(error, Stopped) else 128 + signal.SIGINT
