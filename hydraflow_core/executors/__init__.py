"""Executors: where tasks of a run plan execute (SPEC 3 "backend").

An executor is Hydra-agnostic, as submitit's are: it takes
:class:`~hydraflow_core.runplan.Task` objects, gives back a
:class:`~.base.Handle` per task (an id, a state, ``done()``, ``result()``,
``cancel()``), and streams one :class:`~.base.RunResult` per run as runs
finish. The local executor runs tasks in this process, on forked workers or
as subprocesses; the Slurm executor plugs in beside it.
"""

from hydraflow_core.executors.base import (
    COMPLETED, FAILED, INTERRUPTED, LOST, PENDING, PLANNED, RUNNING, Handle, MachineError, RunResult,
)
from hydraflow_core.executors.local.executor import CommandRunner, LocalExecutor, RunFunction
from hydraflow_core.executors.stop import Stopped, stop_signals

__all__ = [
    "COMPLETED", "FAILED", "INTERRUPTED", "LOST", "PENDING", "PLANNED", "RUNNING",
    "Handle", "MachineError", "RunResult", "LocalExecutor", "RunFunction", "CommandRunner",
    "Stopped", "stop_signals",
]
