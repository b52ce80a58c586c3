"""What a task runs: the three kinds of work an executor is given.

- :class:`FunctionWork`: each run is ``function.prepare`` then
  ``function.execute`` (the Hydra launcher's runs, a ``call`` job's batches);
  locally in this process or on forked workers; nothing is pickled in.
- :class:`CommandWork`: each task is one command (a ``run`` job's batch); the
  executor records its start and end, its output goes to the task's log.
- :class:`ReplayWork`: each task is the app started again with
  ``HYDRAFLOW_REPLAY`` naming the task's recorded runs (``start: exec``, a
  Slurm array task, ``hydraflow retry``); the app records its own runs.
- :class:`NodeWork`: each Slurm task imports the app's task function again
  on its node and runs it on each run's config, written at submission (no
  app start-up, nothing pickled); where that cannot be, the task replays.

Only commands, replays and node work can leave this machine (Slurm); a function in this process cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Protocol, Sequence, Tuple

from hydraflow_core.plan import Run, Task


class RunFunction(Protocol):
    """How one run executes: ``prepare`` (cheap: where it will write), then ``execute``."""

    def prepare(self, run: Run) -> Dict[str, Any]:
        """Details for the run's start record (``output_dir``, ``log``); may raise: the run fails."""

    def execute(self, run: Run, prepared: Dict[str, Any]) -> Any:
        """Run it: a RunResult; a failure of the run itself is a FAILED result, not an exception."""


@dataclass(frozen=True)
class FunctionWork:
    function: RunFunction
    # where a run writes, worked out again for a run whose worker died (optional: ``function.describe``)
    describe: Optional[Callable[[Run], Dict[str, Any]]] = None


@dataclass(frozen=True)
class Command:
    argv: Tuple[str, ...]
    cwd: str
    log: str  # the task's output (stdout and stderr)
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandWork:
    command: Callable[[Task], Command]  # the command of a one-run task (a batch); packed tasks: run by run


@dataclass(frozen=True)
class ReplayWork:
    sweep_dir: str  # absolute: the sweep whose recorded runs are replayed
    argv: Tuple[str, ...]  # the app's command, pinned to the sweep directory (replay.replay_command)
    cwd: str
    env: Mapping[str, str] = field(default_factory=dict)


class CannotRunOnNode(Exception):
    """The task function or a config's class cannot be found again by import: replay instead (the reason)."""


@dataclass(frozen=True)
class NodeWork:
    # "module:function" the node task calls with (spec path, spec, task index): it runs the task's runs
    runner: str
    function: Mapping[str, Any]  # how the runner finds the task function again (module, file, qualname ...)
    write: Callable[[Sequence[Task]], None]  # writes the run configs of an array's tasks before it is submitted;
    # may raise CannotRunOnNode
    configs: str  # the directory the configs are written to
    fallback: ReplayWork  # the app again, for tasks whose function or configs the node cannot import
    parallel: int = 1  # runs of one task at once on its node (parallel_per_task)
    timeout: Optional[float] = None  # seconds one run may take on the node (timeout_min); None: no limit
