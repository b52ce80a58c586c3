"""The local executor's bookkeeping: a task being run (its handle) and a place to run one (a slot)."""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any, List, Optional

from hydraflow_core.executors.base import RunResult, worst
from hydraflow_core.manifest import PENDING
from hydraflow_core.plan import Run, Task


class Handle:
    """One task handed to the executor: its id once it runs, its state, its runs' results."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.id: Optional[str] = None  # the backend's id once the task runs ('local:4242')
        self.state = PENDING
        self.results: List[RunResult] = []

    def finish(self) -> None:
        """Set the task's state from its runs' (the worst wins), once all of them ended."""
        self.state = worst(r.state for r in self.results)

    def __repr__(self) -> str:
        return f"Handle(task={self.task.index}, id={self.id!r}, state={self.state!r})"


class Slot:
    """One place a task can run: a forked worker or a command subprocess."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.handle: Optional[Handle] = None
        self.current: Optional[Run] = None  # the run it said it started
        self.remaining: List[Run] = []  # runs of its task not ended yet
        self.process: Any = None
        self.conn: Optional[Connection] = None
        self.log_file: Any = None
        self.log_path: Optional[str] = None
        self.replay_spec: Optional[str] = None  # a replayed task: the spec naming its runs
        self.started_at = 0.0
        self.cancelled = False
        self.clear_limit()

    def clear_limit(self) -> None:
        """A new task: no run clock yet, nothing stopped for its time limit (see :mod:`.timeouts`)."""
        self.run_started: Optional[float] = None  # time.monotonic() when ``current`` began
        self.timed_out: Optional[Run] = None  # the run stopped for its time limit
        self.kill_at: Optional[float] = None  # when SIGKILL follows the SIGTERM that stopped it
        self.followed = 0  # a replayed task: bytes of the app's events file read so far
