"""Ctrl-C during a sweep: stop the running task, never lose a finished run.

A KeyboardInterrupt raised at a random point (in a finalizer, in the middle of
sending a result) prints "Exception ignored ..." tracebacks or drops a run that
had finished. So while the launcher runs, SIGINT raises KeyboardInterrupt only
*inside a task function* (the task stops there, as with Hydra's basic
launcher); anywhere else it only sets a flag, which the launcher checks between
runs. Forked workers inherit the handler and this state, so a worker finishes
sending the result of a task that has returned and then stops.
"""

from __future__ import annotations

import functools
import signal
import threading
from typing import Any, Callable


class Interrupts:
    def __init__(self) -> None:
        self.requested = False
        self.in_task = False
        self._previous: Any = None
        self._installed = False

    def handler(self, signum: int, frame: Any) -> None:
        self.requested = True
        if self.in_task:
            self.in_task = False  # a second Ctrl-C while the task unwinds only sets the flag
            raise KeyboardInterrupt

    def install(self) -> None:
        """Take over SIGINT (main thread only; elsewhere Python's default stays)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        self.requested = False
        self._previous = signal.signal(signal.SIGINT, self.handler)
        self._installed = True

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def guard(self, task: Callable) -> Callable:
        """``task`` with SIGINT raising KeyboardInterrupt while it runs (and only then)."""
        @functools.wraps(task)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.requested:
                raise KeyboardInterrupt  # stopping: start no new task
            self.in_task = True
            try:
                return task(*args, **kwargs)
            finally:
                self.in_task = False

        return guarded


#: One per process: the parent's, copied into each forked worker.
INTERRUPTS = Interrupts()
