"""What every executor shares: states, a run's result, a task's handle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Optional

from hydraflow_core.manifest import COMPLETED, FAILED, INTERRUPTED, LOST, PENDING, PLANNED, RUNNING
from hydraflow_core.plan import Run, Task

__all__ = ["COMPLETED", "FAILED", "INTERRUPTED", "LOST", "PENDING", "PLANNED", "RUNNING",
           "RunResult", "Handle", "MachineError"]


@dataclass
class RunResult:
    """The outcome of one run, as the process that ran it saw it."""

    run: Run
    state: str  # COMPLETED, FAILED, INTERRUPTED or LOST
    error: Optional[str] = None  # one line: 'RuntimeError: boom', 'the worker died (signal 9)'
    value: Any = None  # what the runner returned (the plugin: a JobReturn), when it could be carried
    log: Optional[str] = None  # where the run's output / traceback is
    output_dir: Optional[str] = None
    duration: float = 0.0  # seconds
    started: Optional[float] = None  # Unix time
    job_id: Optional[str] = None  # the backend's id of the process or array task
    returncode: Optional[int] = None  # a command task's exit code
    returned: Any = None  # a JSON-safe copy of what the run returned, recorded in the manifest


class MachineError(Exception):
    """A fault of the machine, not of a run (disk full): stops dispatching, named in the summary."""


class Handle:
    """One submitted task: its id, state and results, kept up to date by its executor."""

    def __init__(self, task: Task, wait: Callable[["Handle"], None], cancel: Callable[["Handle"], bool]) -> None:
        self.task = task
        self.id: Optional[str] = None  # the backend's id once the task runs ('local:4242')
        self.state = PENDING
        self.results: List[RunResult] = []
        self._wait = wait
        self._cancel = cancel

    def done(self) -> bool:
        return self.state in (COMPLETED, FAILED, INTERRUPTED, LOST)

    def result(self) -> List[RunResult]:
        """Every run's result, once the task has ended (drives the executor until then)."""
        if not self.done():
            self._wait(self)
        return list(self.results)

    def cancel(self) -> bool:
        """Stop the task if it has not ended: True when it was cancelled by this call."""
        return False if self.done() else self._cancel(self)

    def finish(self) -> None:
        """Set the task's state from its runs' (the worst wins), once all of them ended."""
        states = {r.state for r in self.results}
        for state in (LOST, INTERRUPTED, FAILED):
            if state in states:
                self.state = state
                return
        self.state = COMPLETED

    def __repr__(self) -> str:
        return f"Handle(task={self.task.index}, id={self.id!r}, state={self.state!r})"
