"""Job definitions (SPEC 2), as plain frozen dataclasses.

:mod:`.jobfile` builds them from ``hydraflow.yaml`` after validating it;
:mod:`.plan` turns one into batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

KINDS = ("run", "call", "submit")


@dataclass(frozen=True)
class Step:
    """One step: its outer grid (``batch`` x ``zip``), inner sweeps and extra settings."""

    batch: Tuple[str, ...] = ()  # overrides; one batch per combination
    zip: Tuple[str, ...] = ()  # overrides paired element-wise
    args: Tuple[str, ...] = ()  # overrides swept by Hydra inside every batch
    with_: Tuple[str, ...] = ()  # settings merged over the job's `with`
    slurm: Dict[str, Any] = field(default_factory=dict, compare=False)  # merged over the job's `slurm` by key


@dataclass(frozen=True)
class Job:
    name: str
    kind: str  # one of KINDS
    target: str  # the command (run, submit) or module.function (call)
    with_: Tuple[str, ...] = ()
    max_parallel: Optional[int] = None  # None: 1 here; on Slurm the user's limit on running jobs, if any
    steps: Tuple[Step, ...] = (Step(),)
    slurm: Dict[str, Any] = field(default_factory=dict, compare=False)  # batches go to Slurm when set
    where: str = field(default="", compare=False)  # FILE:LINE of its run/call/submit, for messages
    timeout_min: Optional[float] = None  # a local `run` job: each batch's time limit, in minutes
    # Words a `call` function's list or a `submit` file's line starts with, before the batch's
    # arguments: HydraFlow 0.23 gives `--multirun` there (after a call's own words).
    lead: Tuple[str, ...] = ()
    schema: str = "steps"  # "sets": written in HydraFlow 0.23's schema (sets of each / all / add)


@dataclass(frozen=True)
class JobFile:
    path: Path
    jobs: Dict[str, Job] = field(default_factory=dict)  # only the one asked for, when loaded with only=
    names: Tuple[str, ...] = ()  # every job's name, in file order

    @property
    def directory(self) -> Path:
        """Where a job's commands run and its outputs go."""
        return self.path.resolve().parent
