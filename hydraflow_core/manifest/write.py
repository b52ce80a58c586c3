"""Writing the manifest: the launcher's header, plan and attempts; each process's own events file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

from .files import (
    ATTEMPTS, EVENTS, FORMAT, HEADER, HOST, PLAN, VERSION, append, json_line, manifest_dir, process_start, read_lines,
    write_atomic,
)


class Manifest:
    """The launcher's side: create the manifest, write the plan, open attempts."""

    def __init__(self, sweep_dir: os.PathLike) -> None:
        self.sweep_dir = Path(sweep_dir).absolute()
        self.dir = manifest_dir(self.sweep_dir)

    @property
    def exists(self) -> bool:
        return (self.dir / HEADER).exists()

    def create(self, header: Dict[str, Any]) -> None:
        """A new manifest (the directory must not hold one yet)."""
        (self.dir / EVENTS).mkdir(parents=True, exist_ok=True)
        record = {"format": FORMAT, "version": VERSION, "created": time.time(),
                  "sweep_dir": str(self.sweep_dir), **header}
        write_atomic(self.dir / HEADER, json.dumps(record, indent=2, ensure_ascii=False) + "\n")

    def add_plan(self, records: Iterable[Dict[str, Any]]) -> None:
        """Append plan records (``run`` and ``overrides`` at least), in one write."""
        data = b"".join(json_line(r) for r in records)
        if data:
            append(self.dir / PLAN, data)

    def begin_attempt(self, info: Dict[str, Any]) -> int:
        """Record a launch (the first, or a retry) and return its number (1, 2, ...)."""
        attempt = 1 + sum(1 for _ in read_lines(self.dir / ATTEMPTS))
        record = {"attempt": attempt, "time": time.time(), "host": HOST, "pid": os.getpid(),
                  "pid_start": process_start(os.getpid()), **info}
        append(self.dir / ATTEMPTS, json_line(record))
        return attempt


class EventLog:
    """One process's events file. Safe to create before ``fork``: a child opens its own file."""

    def __init__(self, sweep_dir: os.PathLike, attempt: int, job_id: Optional[str] = None,
                 details: Optional[Dict[str, Any]] = None) -> None:
        self.dir = manifest_dir(sweep_dir) / EVENTS
        self.attempt = attempt
        self.job_id = job_id
        self.details = dict(details or {})  # added to every start record (a Slurm task's ids)

    @property
    def path(self) -> Path:
        return self.path_for(os.getpid())

    def path_for(self, pid: int) -> Path:
        return self.dir / f"{self.attempt}-{HOST}-{pid}.jsonl"

    def _write(self, record: Dict[str, Any]) -> None:
        append(self.path, json_line({"attempt": self.attempt, "time": time.time(), **record}))

    def started(self, run: int, **details: Any) -> None:
        pid = os.getpid()
        self._write({"run": run, "event": "start", "host": HOST, "pid": pid,
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
        return {r["run"]: r for r in read_lines(self.path_for(pid)) if r.get("event") == "end" and "run" in r}

    def has_ended(self, pid: int, run: int) -> Optional[Dict[str, Any]]:
        """The end record that process ``pid`` wrote for ``run`` in this attempt, if any."""
        return self.ends_of(pid).get(run)


_START_CACHE: Dict[int, Optional[int]] = {}


def _own_start() -> Optional[int]:
    pid = os.getpid()
    if pid not in _START_CACHE:
        _START_CACHE[pid] = process_start(pid)
    return _START_CACHE[pid]

