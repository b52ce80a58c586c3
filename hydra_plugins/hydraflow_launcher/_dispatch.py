"""The manifest of one multirun in this process, owned by whoever launches: the hydraflow launcher behind
any sweeper (basic, Optuna calling it once per batch of trials, ours), or our sweeper before another launcher.

On first use it creates the sweep's manifest (an older one in the same
directory is kept aside) and claims the sweep for this attempt, or -- when
the app was started to replay recorded runs (``HYDRAFLOW_REPLAY``: a retry, a
fresh interpreter, a Slurm array task) -- joins the recorded one. Each
launch's runs are written to the plan before they are dispatched, so
``hydraflow status``, ``retry`` and ``cancel`` know every run of every batch.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional

from omegaconf import DictConfig, OmegaConf

from hydraflow_core import manifest
from hydraflow_core.errors import HydraflowError
from hydraflow_core.manifest import EventLog, replay
from hydraflow_core.manifest.claim import Claim
from hydraflow_core.plan import Task

#: Plan records are written this many runs ahead of dispatch, in one append each.
PLAN_BLOCK = 1000


class Session:
    def __init__(self, config: DictConfig, launcher_settings: Dict[str, Any], sweeper: Dict[str, Any]) -> None:
        self.config = config
        self.sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        self.settings = launcher_settings
        self.sweeper = sweeper
        self.spec = replay.current_spec()
        if self.spec is not None and Path(self.spec.sweep_dir).absolute() != self.sweep_dir:
            raise HydraflowError(f"{replay.ENV} names a replay of {self.spec.sweep_dir}, but this sweep's directory "
                                 f"is {self.sweep_dir}; unset {replay.ENV} to run a new sweep")
        self.record = manifest.Manifest(self.sweep_dir)
        self.events: Optional[EventLog] = None
        self.header: Dict[str, Any] = {}
        self.claim: Optional[Claim] = None

    @property
    def replaying(self) -> bool:
        return self.spec is not None

    def open(self, total: Optional[int]) -> EventLog:
        """The event log of this process's attempt (the manifest and the attempt made on first call)."""
        if self.events is not None:
            return self.events
        spec = self.spec
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        if spec is not None and spec.reason == "task":  # one of a launch's tasks: no attempt of its own
            attempt = int(spec.attempt or 1)
        else:
            self.claim = Claim.take(self.sweep_dir)
            atexit.register(self.close)  # behind another sweeper nobody says when the last launch was
            if spec is None:
                self._create(total)
            attempt = self.record.begin_attempt({
                "kind": spec.reason if spec else "launch", "runs": total, "launcher": self.settings,
                "argv": sys.argv, **({"numbers": list(spec.runs)} if spec else {})})
        self.header = manifest.read_header(self.sweep_dir)
        job_id, slurm = manifest.slurm_ids()  # on a Slurm node: recorded with every run
        self.events = EventLog(self.sweep_dir, attempt, job_id=job_id, details=slurm)
        return self.events

    def again(self, numbers: List[int]) -> EventLog:
        """A new attempt of this launch, for runs that failed (``max_retries``); their records go on there."""
        attempt = self.record.begin_attempt({"kind": "retry", "auto": True, "runs": len(numbers),
                                             "launcher": self.settings, "argv": sys.argv, "numbers": list(numbers)})
        job_id, slurm = manifest.slurm_ids()
        self.events = EventLog(self.sweep_dir, attempt, job_id=job_id, details=slurm)
        return self.events

    def _create(self, total: Optional[int]) -> None:
        if self.record.exists:  # the same sweep dir again: the earlier record stays, under another name
            self.record.dir.rename(self.record.dir.with_name(
                f"{manifest.DIR_NAME}.{int(time.time())}-{os.getpid()}"))
            self.claim = Claim.take(self.sweep_dir)  # the claim moved with the old record
        config = self.config
        # As typed: an override may hold an interpolation that only a run can resolve (${hydra.job.num}).
        overrides = {key: [str(o) for o in OmegaConf.to_container(config.hydra.overrides[key], resolve=False)]
                     for key in ("task", "hydra")}
        self.record.create({
            "kind": "sweep", "runs": total, "job_name": str(config.hydra.job.name),
            "launch": replay.launch_record(self.settings, overrides, str(config.hydra.runtime.cwd)),
            "sweeper": self.sweeper, "launcher": self.settings,
        })

    def planned(self, tasks: Iterable[Task]) -> Iterator[Task]:
        """Tasks, each one's runs in the manifest's plan before it is dispatched (a replay's are there)."""
        if self.replaying:
            yield from tasks
            return
        block: List[Task] = []
        count = 0
        for task in tasks:
            block.append(task)
            count += len(task.runs)
            if count >= PLAN_BLOCK:
                self.record.add_plan(_plan_records(block))
                yield from block
                block, count = [], 0
        self.record.add_plan(_plan_records(block))
        yield from block

    def replay_command(self, extra: List[str]) -> tuple:
        """The app's recorded command, for a task started again elsewhere (``start: exec``, a Slurm node)."""
        return replay.replay_command(self.header, extra)

    def close(self) -> None:
        if self.claim is not None:
            self.claim.release()
            self.claim = None


def _plan_records(tasks: List[Task]) -> Iterator[Dict[str, Any]]:
    for task in tasks:
        for run in task.runs:
            yield {"run": run.number, "overrides": list(run.overrides), "group": run.group, "task": task.index}

