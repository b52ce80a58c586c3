"""Stopping on SIGINT, SIGTERM and SIGHUP, the same way in the CLI and the plugin.

A KeyboardInterrupt raised at a random point (inside a finalizer, half way
through sending a result) prints "Exception ignored ..." tracebacks or loses a
run that had finished. So while :func:`stop_signals` is active, a stop signal
raises :class:`Stopped` only *inside a task* (code run under :func:`in_task`:
the user's function stops there, as with Hydra's basic launcher); anywhere
else it only records the signal, and the executor's loop raises
:class:`Stopped` at its next safe point (:func:`check`, at least every 0.1 s).
The executor then stops what runs (a grace period, then SIGKILL) and the front
end prints its summary and exits 128 + the signal number (130, 143, 129). A
second signal kills everything at once and never raises again.

Forked workers inherit the handler, so a worker finishes sending the result of
a run that returned before it stops.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from typing import Any, Callable, Iterable, Iterator, List, Optional

SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived (a KeyboardInterrupt, so code that stops on Ctrl-C stops on it too).

    ``results``: what ended before the stop, where the raiser has it (the run
    cut short, recorded as interrupted; a job's batches). ``left_running``:
    nothing was cancelled, the tasks go on (Slurm).
    """

    def __init__(self, signum: int = signal.SIGINT, results: Iterable[Any] = (), left_running: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.results = list(results)
        self.left_running = left_running

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    def __init__(self) -> None:
        self.signum: Optional[int] = None  # the first stop signal
        self.raised = False  # Stopped was raised for it already
        self.in_task = False
        self.on_force: List[Callable[[], Any]] = []


_state = _State()


def stopping() -> Optional[int]:
    """The stop signal received so far, if any."""
    return _state.signum


def check() -> None:
    """Raise :class:`Stopped` here, at a safe point, if a stop signal arrived."""
    if _state.signum is not None and not _state.raised:
        _state.raised = True
        raise Stopped(_state.signum)


def wait_process(process) -> int:
    """``process.wait()`` that raises :class:`Stopped` (within 0.1 s) when a stop signal arrives."""
    import subprocess

    while True:
        try:
            return process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            check()


def sleep(seconds: float) -> None:
    """Sleep, raising :class:`Stopped` within 0.1 s of a stop signal (polling loops)."""
    import time

    end = time.monotonic() + seconds
    while True:
        check()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.1, left))


def stop_child(process, signum: int = signal.SIGINT, grace: float = 5.0) -> None:
    """Pass a stop on to a child in its own session (its whole process group); SIGKILL after ``grace``."""
    import os
    import subprocess

    forwarded = signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, forwarded)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def on_second_signal(callback: Callable[[], Any]) -> Callable[[], None]:
    """Call ``callback`` (e.g. kill every process) if another stop signal arrives."""
    _state.on_force.append(callback)
    return lambda: _state.on_force.remove(callback) if callback in _state.on_force else None


def _handler(signum, frame) -> None:
    if _state.signum is None:
        _state.signum = signum
        if _state.in_task:  # stop the user's code where it is
            _state.in_task = False
            _state.raised = True
            raise Stopped(signum)
        return
    for callback in list(_state.on_force):  # a second signal: no more waiting
        with contextlib.suppress(Exception):
            callback()


def request(signum: int) -> None:
    """Stop as if ``signum`` had arrived (from another signal's handler: Slurm's time-limit warning)."""
    _handler(signum, None)


def in_task(function: Callable) -> Callable:
    """``function`` with stop signals raising inside it (and only there)."""
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check()  # stopping already: start no new task
        _state.in_task = True
        try:
            return function(*args, **kwargs)
        finally:
            _state.in_task = False

    return guarded


def install() -> None:
    """Take over the stop signals for good (a forked worker)."""
    _state.signum, _state.raised, _state.in_task, _state.on_force = None, False, False, []
    for s in SIGNALS:
        signal.signal(s, _handler)


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """While inside, stop signals are handled as above; the old handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can take signals
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _state.signum, _state.raised, _state.in_task, _state.on_force = None, False, False, []
    for s in SIGNALS:
        if previous[s] is signal.SIG_IGN and s != signal.SIGINT:
            continue  # nohup: SIGHUP stays ignored
        signal.signal(s, _handler)
    try:
        yield
    finally:
        stopped = _state.signum is not None
        for s, handler in previous.items():
            # After a stop the process is ending: more signals change nothing, even during shutdown.
            signal.signal(s, signal.SIG_IGN if stopped else handler)
        _state.on_force = []


def ignore_from_now_on() -> None:
    """The process is ending after a stop: more signals change nothing (even during shutdown)."""
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)


def drain(executor: Any, tasks: Iterable[Any], take: Callable[[Any], None]) -> None:
    """Every result of ``executor`` running ``tasks`` into ``take``, under :func:`stop_signals`.

    The one place a front end's Ctrl-C, SIGTERM or SIGHUP is handled: on a
    stop the executor stops what runs (its late results go to ``take`` too),
    the executor is closed, and :class:`Stopped` is raised with the signal,
    whose ``exit_code`` (130, 143, 129) the front end exits with after its summary.
    """
    with stop_signals():
        try:
            for result in executor.stream(tasks):
                take(result)
        except KeyboardInterrupt:  # Stopped, or a Ctrl-C inside an in-process task
            signum = stopping() or signal.SIGINT
            for result in executor.stop(signum):
                take(result)
            raise Stopped(signum) from None
        finally:
            executor.close()
