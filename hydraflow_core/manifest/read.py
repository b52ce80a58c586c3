"""Reading the manifest: every run's state folded from the plan and the events of all processes."""

from __future__ import annotations

import gc
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import UsageError
from .files import ATTEMPTS, DIR_NAME, EVENTS, FORMAT, HEADER, PLAN, manifest_dir, process_alive, read_lines
from .states import COMPLETED, FAILED, LOST, PENDING, PLANNED, RUNNING, STATES

# Precedence of events inside one attempt (a higher rank wins, then the later time).
_RANK = {"start": 0, "ended_by_launcher": 1, "end": 2}
# End-record details kept in RunRecord.extra.
_END_EXTRAS = ("returncode", "return_value")
_PLAN_KEYS = ("run", "overrides", "group", "task")


class _NoExtra(dict):
    """The shared empty ``extra`` of most records (one object, not one dict per run); read-only."""

    def __setitem__(self, key, value):  # pragma: no cover - a bug of ours
        raise TypeError("RunRecord.extra is replaced, never changed")


_NO_EXTRA: Mapping[str, Any] = _NoExtra()


@dataclass(eq=False)
class RunRecord:
    number: int
    overrides: List[str]
    group: int = 0
    task: int = 0
    state: str = PLANNED
    attempt: Optional[int] = None  # the attempt of the latest event
    started: Optional[float] = None
    ended: Optional[float] = None
    host: Optional[str] = None
    pid: Optional[int] = None
    job_id: Optional[str] = None
    output_dir: Optional[str] = None
    log: Optional[str] = None
    error: Optional[str] = None
    starts: int = 0  # how many times it was started (retries, requeues and max_retries each start it again)
    reason: Optional[str] = None  # pending on Slurm: why, as Slurm names it (AssocMaxJobsLimit); not recorded
    # other plan fields (a job's batch name ...); replaced, never changed. A factory returning the one
    # shared empty mapping: Python 3.10's dataclasses refuse a dict subclass as a plain default.
    extra: Mapping[str, Any] = field(default_factory=lambda: _NO_EXTRA)

    def as_json(self) -> Dict[str, Any]:
        """Every field (``reason`` when it waits, ``extra``'s fields flat); one copy of the record's dict."""
        out = self.__dict__.copy()
        extra, reason = out.pop("extra"), out.pop("reason")
        if reason:
            out["reason"] = reason
        if extra:
            out.update(extra)
        return out


@dataclass
class SweepState:
    sweep_dir: Path
    header: Dict[str, Any]
    attempts: List[Dict[str, Any]]
    runs: List[RunRecord]  # in run-number order
    to_come: Optional[Tuple[int, int]] = None  # Slurm: runs and waves still to submit (status sets it; not recorded)

    @property
    def launcher_alive(self) -> bool:
        """True while the latest attempt's launching process still runs (on this host)."""
        if not self.attempts:
            return False
        last = self.attempts[-1]
        return bool(process_alive(last.get("host"), last.get("pid"), last.get("pid_start")))

    def counts(self) -> Dict[str, int]:
        out = {state: 0 for state in STATES}
        for run in self.runs:
            out[run.state] = out.get(run.state, 0) + 1
        return {k: v for k, v in out.items() if v}

    @property
    def complete(self) -> bool:
        return all(run.state == COMPLETED for run in self.runs)


def read(sweep_dir: os.PathLike) -> SweepState:
    """The manifest of ``sweep_dir`` folded into one state per run."""
    collecting = gc.isenabled()
    gc.disable()  # hundreds of thousands of small dicts, no cycles: the collector would only cost time
    try:
        return _read(sweep_dir)
    finally:
        if collecting:
            gc.enable()


def _read(sweep_dir: os.PathLike) -> SweepState:
    directory = manifest_dir(sweep_dir)
    header_path = directory / HEADER
    try:
        header = json.loads(header_path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"{sweep_dir} is not a hydraflow sweep: it has no {DIR_NAME}/{HEADER} "
            "(give the sweep directory of a multirun that used the hydraflow launcher or sweeper, "
            "or a run directory of `hydraflow run`)"
        ) from None
    except (OSError, ValueError) as error:
        raise UsageError(f"{header_path}: cannot read the manifest: {error}") from None
    if header.get("format") != FORMAT:
        raise UsageError(f"{header_path}: not a hydraflow manifest")
    attempts = list(read_lines(directory / ATTEMPTS))
    runs: Dict[int, RunRecord] = {}
    for record in read_lines(directory / PLAN):
        number = record.get("run")
        if not isinstance(number, int):
            continue
        run = RunRecord(number, record.get("overrides") or [], record.get("group", 0), record.get("task", 0))
        if len(record) > 4:  # a job's batch: its name and sweep dir
            run.extra = {k: v for k, v in record.items() if k not in _PLAN_KEYS}
        runs[number] = run
    # The winning event per run, and the latest start (where it ran), by (attempt, rank, time),
    # folded into one float (the time keeps ms precision) to keep this loop cheap.
    best: Dict[Any, Tuple[float, Dict[str, Any]]] = {}
    best_start: Dict[Any, Tuple[float, Dict[str, Any]]] = {}
    starts: Dict[Any, int] = {}
    rank_of, best_get, start_get = _RANK.get, best.get, best_start.get
    events_dir = directory / EVENTS
    files = sorted(events_dir.iterdir()) if events_dir.is_dir() else []
    for path in files:
        for event in read_lines(path):
            rank = rank_of(event.get("event"))  # type: ignore[arg-type]
            if rank is None:
                continue
            number = event.get("run")
            key = ((event.get("attempt") or 0) * 4 + rank) * 1e10 + (event.get("time") or 0)
            found = best_get(number)
            if found is None or key >= found[0]:
                best[number] = (key, event)
            if rank == 0:
                starts[number] = starts.get(number, 0) + 1
                found = start_get(number)
                if found is None or key >= found[0]:
                    best_start[number] = (key, event)
    launcher_alive = SweepState(Path(sweep_dir), header, attempts, []).launcher_alive
    for number, run in runs.items():
        start = best_start.get(number)
        run.starts = starts.get(number, 0)
        if start is not None:
            event = start[1]
            run.started, run.host, run.pid = event.get("time"), event.get("host"), event.get("pid")
            run.job_id, run.output_dir, run.log = event.get("job_id"), event.get("output_dir"), event.get("log")
        won = best.get(number)
        if won is None:
            if launcher_alive:
                run.state = PENDING
            continue
        event = won[1]
        run.attempt = event.get("attempt") or 0
        if event.get("event") == "start":
            alive = process_alive(run.host, run.pid, event.get("pid_start"))
            run.state = LOST if alive is False else RUNNING
            continue
        run.state = event.get("state") or FAILED
        run.ended, run.error = event.get("time"), event.get("error")
        run.log = event.get("log", run.log)
        run.output_dir = event.get("output_dir", run.output_dir)
        for key in _END_EXTRAS:
            if key in event:
                run.extra = {**run.extra, key: event[key]}
    _rebase(runs.values(), header.get("sweep_dir"), sweep_dir)
    return SweepState(Path(sweep_dir), header, attempts, [runs[n] for n in sorted(runs)])


def _rebase(runs: Any, recorded: Optional[str], sweep_dir: os.PathLike) -> None:
    """Paths recorded inside the sweep directory, moved with it (an earlier sweep set aside, a copy)."""
    here = str(Path(sweep_dir).absolute())
    if not recorded or recorded == here:
        return
    recorded = recorded.rstrip(os.sep)
    for run in runs:
        for name in ("output_dir", "log"):
            path = getattr(run, name)
            if path and (path + os.sep).startswith(recorded + os.sep):
                setattr(run, name, here + path[len(recorded):])

