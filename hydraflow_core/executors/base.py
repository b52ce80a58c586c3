"""What every executor shares: a run's result, the options, the interface, the backend registry.

An executor is Hydra-agnostic, as submitit's are. It is built from the
:mod:`~.work` its tasks do (a run function, a command per task, a replay of
recorded runs), its :class:`Options` and the manifest's event log; it takes
the tasks of a run plan (:class:`~hydraflow_core.plan.Task`, pulled lazily)
and streams one :class:`RunResult` per run as runs end. Every front end (the
Hydra launcher behind any sweeper, ``hydraflow run``, ``hydraflow retry``)
goes through :func:`create`; a new backend is one class registered in
:data:`BACKENDS` under its ``backend`` name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Tuple

from hydraflow_core.manifest import COMPLETED, FAILED, INTERRUPTED, LOST, TIMED_OUT
from hydraflow_core.plan import Run, Task

#: backend name -> "module:Class"; imported only when that backend is used (submitit is heavy).
BACKENDS: Dict[str, str] = {
    "local": "hydraflow_core.executors.local.executor:LocalExecutor",
    "slurm": "hydraflow_core.executors.slurm.executor:SlurmExecutor",
}


@dataclass
class RunResult:
    """The outcome of one run, as the process that ran it saw it."""

    run: Run
    state: str  # COMPLETED, FAILED, INTERRUPTED, LOST or TIMED_OUT (Slurm adds its own end states)
    error: Optional[str] = None  # one line: 'RuntimeError: boom', 'the worker died (signal 9)'
    value: Any = None  # what the run function returned (the plugin: a JobReturn), when it could be carried
    log: Optional[str] = None  # where the run's output / traceback is
    output_dir: Optional[str] = None
    duration: float = 0.0  # seconds
    started: Optional[float] = None  # Unix time
    job_id: Optional[str] = None  # the backend's id of the process or array task
    returncode: Optional[int] = None  # a command task's exit code
    returned: Any = None  # a JSON-safe copy of what the run returned, recorded in the manifest
    traceback_in_log: bool = False  # a failed run's traceback is at the end of its log

    @property
    def traceback_logged(self) -> bool:
        """True when the process that ran this failed run put its traceback at the end of its log: said by
        the runner, or known from how the run ended (a worker whose result could not travel, a replayed app);
        a run that never started, or was stopped for its time limit, has none."""
        if self.traceback_in_log:
            return True
        if self.state in (COMPLETED, INTERRUPTED, TIMED_OUT):
            return False
        return "could not be unpickled" in (self.error or "") or (
            self.value is None and self.returncode is None and self.started is not None and self.log is not None)


class RunError(Exception):
    """A run's failure already in words (it could not be composed, its worker died ...): its text is the run's
    error as it is, with no type name before it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MachineError(Exception):
    """A fault of the machine, not of a run (disk full): stops dispatching, named in the summary."""


@dataclass(frozen=True)
class Options:
    """How an executor dispatches, whatever runs in the tasks."""

    max_parallel: Optional[int] = None  # tasks at once (local: workers; Slurm: the arrays' %N); None: backend's default
    gpus: Tuple[str, ...] = ()  # local: GPU ids, or groups of them ('0,1'), handed out one per worker (CUDA_VISIBLE_DEVICES)
    cpus: Tuple[Tuple[int, ...], ...] = ()  # local: CPU sets handed out one per worker, which pins itself to its set
    wait: bool = True  # Slurm: wait for the runs (False: return once submitted)
    slurm: Mapping[str, Any] = field(default_factory=dict)  # Slurm: hydra.launcher.slurm.* settings
    job_name: str = "hydraflow"  # Slurm: the arrays' name
    grace: float = 5.0  # seconds a stopped task gets before SIGKILL
    timeout: Optional[float] = None  # local: seconds one run may take (then stopped: timed out); None: no limit


class Executor:
    """The interface every backend implements (see the module's docstring)."""

    backend = ""
    machine_error: Optional[str] = None  # a fault of the machine that stopped dispatching (disk full)
    left_running = False  # after stop(): the tasks go on where they run (Slurm), nothing was cancelled
    submitted_only = False  # stream() returned once everything was submitted (Slurm, wait: false)
    on_start = None  # called with each Task as it starts (locally) or is submitted (Slurm)

    def stream(self, tasks: Iterable[Task]) -> Iterator[RunResult]:
        """Run ``tasks`` and yield each run's result as it ends."""
        raise NotImplementedError

    def stop(self, signum: int) -> Iterator[RunResult]:
        """After a stop signal: what still comes in, and an INTERRUPTED result for each run cut short."""
        return iter(())

    def close(self) -> None:
        """Let go of what the executor holds (idle workers)."""


def executor_class(backend: str) -> type:
    module, _, name = BACKENDS[backend].partition(":")
    return getattr(importlib.import_module(module), name)


def create(backend: str, work: Any, options: Options, events: Any = None) -> Executor:
    """The executor of ``backend`` for ``work`` (see :mod:`.work`), recording into ``events``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    return executor_class(backend)(work, options, events)


def worst(states: Iterable[str]) -> str:
    """A task's state from its runs' (the worst wins)."""
    states = set(states)
    for state in (LOST, INTERRUPTED, TIMED_OUT, FAILED):
        if state in states:
            return state
    return COMPLETED
