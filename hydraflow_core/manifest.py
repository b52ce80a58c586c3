"""The manifest: a sweep's plan and every run's state, on disk, true after any crash.

Layout (a public format, documented in the README)::

    SWEEP_DIR/.hydraflow/
        manifest.json     the header, written once: what the sweep is, how to launch it again
        plan.jsonl        one line per run: number, overrides, group, task
        attempts.jsonl    one line per launch (the first, then every retry)
        events/A-HOST-PID.jsonl
                          one file per writing process, one line per event
                          (a run started / ended), appended with one write()

Why this shape: each file has exactly one writer, and every write appends
one whole line, so many writers at once (forked workers now, Slurm tasks on
many nodes over a shared filesystem) need no lock, and a writer killed at any
instant leaves at most a partial last line, which readers skip. No record is
ever rewritten: the cost per run is two appends, whatever the sweep's size.

A run's state is its latest event: events of a later attempt win; within an
attempt an end beats a start, and the running process's own end record beats
one its launcher wrote for it (a worker that died after recording its end).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from .errors import UsageError

DIR_NAME = ".hydraflow"
FORMAT = "hydraflow-manifest"
VERSION = 1

# Run states (SPEC 3, `hydraflow status`).
PLANNED = "planned"  # in the plan, never started, nothing is going to start it
PENDING = "pending"  # in the plan, its launcher is still alive: queued
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
INTERRUPTED = "interrupted"
LOST = "lost"  # started, no end record, and the process that ran it is gone
STATES = (PLANNED, PENDING, RUNNING, COMPLETED, FAILED, INTERRUPTED, LOST)
ENDED = (COMPLETED, FAILED, INTERRUPTED)

_HOST = socket.gethostname()
# Precedence of events inside one attempt (a higher rank wins, then the later time).
_RANK = {"start": 0, "ended_by_launcher": 1, "end": 2}
# End-record details kept in RunRecord.extra.
_END_EXTRAS = ("returncode", "return_value")
_PLAN_KEYS = ("run", "overrides", "group", "task")


def slurm_ids() -> Tuple[Optional[str], Dict[str, str]]:
    """This process's Slurm job id (``123_4`` for an array task) and the SLURM_* ids to record, if any."""
    env = os.environ
    if "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env:
        job_id: Optional[str] = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    else:
        job_id = env.get("SLURM_JOB_ID")
    recorded = {k.lower(): env[k] for k in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID") if k in env}
    return job_id, recorded


def relative_to(path: Optional[str], directory: os.PathLike) -> Optional[str]:
    """``path`` relative to ``directory`` when it lies inside it (readable at a glance), else as it is."""
    if not path:
        return path
    try:
        return str(Path(path).relative_to(Path(directory).absolute()))
    except ValueError:
        return path


def manifest_dir(sweep_dir: os.PathLike) -> Path:
    return Path(sweep_dir) / DIR_NAME


def process_start(pid: int) -> Optional[int]:
    """The start time of live process ``pid`` in clock ticks (Linux), to tell a reused pid apart.

    None when there is no such process, or only its zombie (it has ended).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):  # ended, not yet reaped
            return None
        return int(fields[19])
    except (IndexError, ValueError):  # pragma: no cover - an unknown /proc format
        return None


def process_alive(host: Optional[str], pid: Optional[int], start: Optional[int]) -> Optional[bool]:
    """True/False for a process on this host; None when it ran elsewhere (cannot tell)."""
    if host != _HOST or pid is None:
        return None
    if Path("/proc/self/stat").exists():
        now = process_start(pid)
        if now is None:
            return False
        return start is None or now == start
    try:  # pragma: no cover - no /proc (macOS)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _line(record: Dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _append(path: Path, data: bytes) -> None:
    """One append of whole lines (O_APPEND: never interleaved with another writer's line)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


def _read_lines(path: Path) -> Iterator[Dict[str, Any]]:
    """The complete, well-formed lines of a JSON-lines file (a torn last line is skipped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    whole = data[:data.rfind(b"\n") + 1]  # text after the last newline is a line being written
    if not whole:
        return
    try:  # fast path: the whole file as one JSON array (one decoder call)
        records = json.loads(b"[" + whole[:-1].replace(b"\n", b",") + b"]")
    except ValueError:
        records = []
        for raw in whole.split(b"\n")[:-1]:
            try:
                records.append(json.loads(raw))
            except ValueError:
                continue
    for record in records:
        if isinstance(record, dict):
            yield record


def write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a killed writer leaves the old file or none)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# --------------------------------------------------------------------------- writing


class Manifest:
    """The launcher's side: create the manifest, write the plan, open attempts."""

    def __init__(self, sweep_dir: os.PathLike) -> None:
        self.sweep_dir = Path(sweep_dir).absolute()
        self.dir = manifest_dir(self.sweep_dir)

    @property
    def exists(self) -> bool:
        return (self.dir / "manifest.json").exists()

    def create(self, header: Dict[str, Any]) -> None:
        """A new manifest (the directory must not hold one yet)."""
        (self.dir / "events").mkdir(parents=True, exist_ok=True)
        record = {"format": FORMAT, "version": VERSION, "created": time.time(),
                  "sweep_dir": str(self.sweep_dir), **header}
        write_atomic(self.dir / "manifest.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n")

    def add_plan(self, records: Iterable[Dict[str, Any]]) -> None:
        """Append plan records (``run`` and ``overrides`` at least), in one write."""
        data = b"".join(_line(r) for r in records)
        if data:
            _append(self.dir / "plan.jsonl", data)

    def begin_attempt(self, info: Dict[str, Any]) -> int:
        """Record a launch (the first, or a retry) and return its number (1, 2, ...)."""
        attempt = 1 + sum(1 for _ in _read_lines(self.dir / "attempts.jsonl"))
        record = {"attempt": attempt, "time": time.time(), "host": _HOST, "pid": os.getpid(),
                  "pid_start": process_start(os.getpid()), **info}
        _append(self.dir / "attempts.jsonl", _line(record))
        return attempt


class EventLog:
    """One process's events file. Safe to create before ``fork``: a child opens its own file."""

    def __init__(self, sweep_dir: os.PathLike, attempt: int, job_id: Optional[str] = None,
                 details: Optional[Dict[str, Any]] = None) -> None:
        self.dir = manifest_dir(sweep_dir) / "events"
        self.attempt = attempt
        self.job_id = job_id
        self.details = dict(details or {})  # added to every start record (a Slurm task's ids)

    @property
    def path(self) -> Path:
        return self.path_for(os.getpid())

    def path_for(self, pid: int) -> Path:
        return self.dir / f"{self.attempt}-{_HOST}-{pid}.jsonl"

    def _write(self, record: Dict[str, Any]) -> None:
        _append(self.path, _line({"attempt": self.attempt, "time": time.time(), **record}))

    def started(self, run: int, **details: Any) -> None:
        pid = os.getpid()
        self._write({"run": run, "event": "start", "host": _HOST, "pid": pid,
                     "pid_start": _own_start(), "job_id": self.job_id or f"local:{pid}", **self.details, **details})

    def ended(self, run: int, state: str, error: Optional[str] = None, **details: Any) -> None:
        record: Dict[str, Any] = {"run": run, "event": "end", "state": state}
        if error:
            record["error"] = error
        self._write({**record, **details})

    def ended_for(self, run: int, state: str, error: str) -> None:
        """The launcher's record of a run whose process could not record it (it died)."""
        self._write({"run": run, "event": "ended_by_launcher", "state": state, "error": error})

    def ends_of(self, pid: int) -> Dict[int, Dict[str, Any]]:
        """The end records process ``pid`` wrote in this attempt, by run (its own file: one read)."""
        return {r["run"]: r for r in _read_lines(self.path_for(pid)) if r.get("event") == "end" and "run" in r}

    def has_ended(self, pid: int, run: int) -> Optional[Dict[str, Any]]:
        """The end record that process ``pid`` wrote for ``run`` in this attempt, if any."""
        return self.ends_of(pid).get(run)


_START_CACHE: Dict[int, Optional[int]] = {}


def _own_start() -> Optional[int]:
    pid = os.getpid()
    if pid not in _START_CACHE:
        _START_CACHE[pid] = process_start(pid)
    return _START_CACHE[pid]


# --------------------------------------------------------------------------- reading


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
    # other plan fields (a job's batch name ...); replaced, never changed. A factory returning the one
    # shared empty mapping: Python 3.10's dataclasses refuse a dict subclass as a plain default.
    extra: Mapping[str, Any] = field(default_factory=lambda: _NO_EXTRA)

    def as_json(self) -> Dict[str, Any]:
        out = {"number": self.number, "overrides": self.overrides, "group": self.group, "task": self.task,
               "state": self.state, "attempt": self.attempt, "started": self.started, "ended": self.ended,
               "host": self.host, "pid": self.pid, "job_id": self.job_id, "output_dir": self.output_dir,
               "log": self.log, "error": self.error}
        if self.extra:
            out.update(self.extra)
        return out


@dataclass
class SweepState:
    sweep_dir: Path
    header: Dict[str, Any]
    attempts: List[Dict[str, Any]]
    runs: List[RunRecord]  # in run-number order

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
    header_path = directory / "manifest.json"
    try:
        header = json.loads(header_path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"{sweep_dir} is not a hydraflow sweep: it has no {DIR_NAME}/manifest.json "
            "(give the sweep directory of a multirun that used the hydraflow launcher or sweeper, "
            "or a run directory of `hydraflow run`)"
        ) from None
    except (OSError, ValueError) as error:
        raise UsageError(f"{header_path}: cannot read the manifest: {error}") from None
    if header.get("format") != FORMAT:
        raise UsageError(f"{header_path}: not a hydraflow manifest")
    attempts = list(_read_lines(directory / "attempts.jsonl"))
    runs: Dict[int, RunRecord] = {}
    for record in _read_lines(directory / "plan.jsonl"):
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
    rank_of, best_get, start_get = _RANK.get, best.get, best_start.get
    events_dir = directory / "events"
    files = sorted(events_dir.iterdir()) if events_dir.is_dir() else []
    for path in files:
        for event in _read_lines(path):
            rank = rank_of(event.get("event"))  # type: ignore[arg-type]
            if rank is None:
                continue
            number = event.get("run")
            key = ((event.get("attempt") or 0) * 4 + rank) * 1e10 + (event.get("time") or 0)
            found = best_get(number)
            if found is None or key >= found[0]:
                best[number] = (key, event)
            if rank == 0:
                found = start_get(number)
                if found is None or key >= found[0]:
                    best_start[number] = (key, event)
    launcher_alive = SweepState(Path(sweep_dir), header, attempts, []).launcher_alive
    for number, run in runs.items():
        start = best_start.get(number)
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
    return SweepState(Path(sweep_dir), header, attempts, [runs[n] for n in sorted(runs)])
