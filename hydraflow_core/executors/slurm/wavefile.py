"""The manifest's record of the waves still to submit, and the lock of whoever submits one. Light.

``.hydraflow/waves.jsonl`` (:data:`~hydraflow_core.manifest.files.WAVES`),
appended lines: a plan per attempt that goes out in waves (every task of
it, each with its part of the array spec, so that the next wave can be
submitted from anywhere, by anyone: nothing is composed again), then the
events that change it (handed over to the cluster, dropped by ``hydraflow
cancel``, given up). What was submitted is never written here: the arrays
in ``slurm.jsonl`` say it, so the two cannot disagree.

Whoever submits a wave (the waiting launcher, or a wave's small job in the
cluster) holds ``.hydraflow/waves.lock`` (O_EXCL) while it reads what is
left, submits and records: never two submitters at once, never a task
twice. A lock left by a submitter that died is taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from hydraflow_core.manifest import (
    HOST, append, json_line, manifest_dir, process_alive, process_start, read_lines, slurm_ids, slurm_records,
)
from hydraflow_core.manifest.files import ATTEMPTS, WAVES, WAVES_LOCK

#: Seconds after which a lock is taken over whoever holds it: a submission takes seconds (sbatch's
#: back-off at most about a minute per array).
STALE_SECONDS = 600.0


@dataclass(frozen=True)
class Pending:
    """An attempt's waves: its plan, what of it was submitted, and whether anyone still submits it."""

    attempt: int
    plan: Dict[str, Any]
    submitted: frozenset  # run numbers of this attempt submitted so far (slurm.jsonl)
    guards: Tuple[str, ...] = ()  # job ids of this attempt's wave jobs, oldest first
    guarded: bool = False  # the cluster submits the waves (wait=false, or a waiting launcher stopped)
    stopped: Optional[str] = None  # why nobody submits them any more (cancelled, superseded, given up)
    refusals: Tuple[str, ...] = field(default=())  # wave jobs Slurm refused
    gave_up: Optional[str] = None  # why nothing submits the rest (said by whoever last tried)

    def waves_left(self) -> List[List[Dict[str, Any]]]:
        """The tasks still to submit, by wave (a wave partly submitted keeps its rest)."""
        out = []
        for wave in self.plan["waves"]:
            rest = [task for task in wave if task["runs"][0] not in self.submitted]
            if rest:
                out.append(rest)
        return out

    @property
    def runs_left(self) -> int:
        return sum(len(task["runs"]) for wave in self.waves_left() for task in wave)

    @property
    def live(self) -> bool:
        return self.stopped is None and bool(self.waves_left())


def path(sweep_dir: os.PathLike) -> Path:
    return manifest_dir(sweep_dir) / WAVES


def write_plan(sweep_dir: os.PathLike, attempt: int, plan: Dict[str, Any]) -> None:
    append(path(sweep_dir), json_line({"attempt": attempt, "time": time.time(), "plan": plan}))


def note(sweep_dir: os.PathLike, attempt: int, **what: Any) -> None:
    """An event of the attempt's waves: ``guarded=True``, ``dropped="cancel"``, ``gave_up="..."``."""
    append(path(sweep_dir), json_line({"attempt": attempt, "time": time.time(), **what}))


def read(sweep_dir: os.PathLike) -> Optional[Pending]:
    """The waves of the sweep's latest attempt that went out in waves; None when none did."""
    lines = list(read_lines(path(sweep_dir)))
    plans = [line for line in lines if "plan" in line]
    if not plans:
        return None
    attempt = int(plans[-1]["attempt"])
    mine = [line for line in lines if line.get("attempt") == attempt]
    latest = max((int(a.get("attempt") or 0) for a in read_lines(manifest_dir(sweep_dir) / ATTEMPTS)), default=0)
    gave_up = next((line["gave_up"] for line in mine if "gave_up" in line), None)
    stopped = next((f"dropped by hydraflow {line['dropped']}" for line in mine if "dropped" in line),
                   f"attempt {latest} came after it" if latest > attempt else None)
    gave_up = None if stopped else gave_up
    stopped = stopped or gave_up
    submitted, guards, refusals = set(), [], []
    for record in slurm_records(sweep_dir):
        if record.get("attempt") != attempt:
            continue
        for runs in record.get("tasks_runs") or ():
            submitted.update(int(n) for n in runs)
        if "guard" in record:
            guards.append(str(record["guard"]))
        if "guard_refused" in record:
            refusals.append(str(record["guard_refused"]))
    guarded = bool(plans[-1]["plan"].get("guarded"))
    for line in mine:  # the last word: handed over to the cluster, or taken back by a launcher that waits
        guarded = bool(line.get("guarded", guarded))
    return Pending(attempt, plans[-1]["plan"], frozenset(submitted), tuple(guards), guarded, stopped,
                   tuple(refusals), gave_up)


@contextlib.contextmanager
def locked(sweep_dir: os.PathLike, wait: float = 0.0) -> Iterator[bool]:
    """The submitters' lock: yields True once held (within ``wait`` seconds), else False."""
    lock = manifest_dir(sweep_dir) / WAVES_LOCK
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    held = False
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if _stale(lock):
                aside = lock.with_name(f"{WAVES_LOCK}.stale-{token}")
                with contextlib.suppress(FileNotFoundError):
                    os.rename(lock, aside)  # only one taker renames it
                    aside.unlink()
                continue
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
            continue
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps({"token": token, "host": HOST, "pid": os.getpid(),
                                  "pid_start": process_start(os.getpid()), "job_id": slurm_ids()[0],
                                  "time": time.time()}) + "\n")
        held = True
        break
    try:
        yield held
    finally:
        if held:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(lock.read_text()).get("token") == token:
                    lock.unlink()


def _stale(lock: Path) -> bool:
    try:
        holder = json.loads(lock.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):  # being written this instant
        return False
    if process_alive(holder.get("host"), holder.get("pid"), holder.get("pid_start")) is False:
        return True
    return time.time() - float(holder.get("time") or 0) > STALE_SECONDS
