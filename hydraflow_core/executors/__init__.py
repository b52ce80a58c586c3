"""Executors: where the tasks of a run plan execute (the launcher's ``backend``).

Light on purpose (the plugin's config imports :mod:`.slurm.fields` at every
Hydra start-up): the backends themselves are imported on first use.
"""

from hydraflow_core.executors.base import BACKENDS, Executor, MachineError, Options, RunError, RunResult, create
from hydraflow_core.executors.stop import Stopped, drain, stop_signals
from hydraflow_core.executors.work import (
    CannotRunOnNode, Command, CommandWork, FunctionWork, NodeWork, ReplayWork, RunFunction,
)
from hydraflow_core.manifest import COMPLETED, FAILED, INTERRUPTED, LOST, PENDING, PLANNED, RUNNING

__all__ = [
    "BACKENDS", "Executor", "MachineError", "Options", "RunError", "RunResult", "create", "Stopped", "drain", "stop_signals",
    "CannotRunOnNode", "Command", "CommandWork", "FunctionWork", "NodeWork", "ReplayWork", "RunFunction",
    "COMPLETED", "FAILED", "INTERRUPTED", "LOST", "PENDING", "PLANNED", "RUNNING",
]
