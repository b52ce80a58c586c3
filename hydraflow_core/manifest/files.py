"""The manifest's files: where they are, and the two ways they are written (appends, atomic rewrites).

Every file under ``.hydraflow/`` is either appended whole lines with one
``write()`` (plan, attempts, events: many writers need no lock, a killed
writer leaves at most a torn last line, which :func:`read_lines` skips) or
written whole by an atomic rename (the header, replay specs).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

DIR_NAME = ".hydraflow"
# The files and folders under DIR_NAME (the README's "The manifest format"); named here only.
HEADER = "manifest.json"  # what the sweep is, how to launch it again: written once
PLAN = "plan.jsonl"  # one line per run
ATTEMPTS = "attempts.jsonl"  # one line per launch
EVENTS = "events"  # one file per writing process
SLURM = "slurm.jsonl"  # one line per array submitted (or refused), and per wave job
WAVES = "waves.jsonl"  # the tasks of an attempt that go out in waves, and what became of them
WAVES_LOCK = "waves.lock"  # held by whoever submits a wave (O_EXCL)
#: Folders of the backends' own files: replay specs and logs of fresh interpreters (exec), the
#: configs a Slurm node runs (node/ATTEMPT), submitit's scripts and logs (slurm).
EXEC, NODE, SUBMITIT = "exec", "node", "slurm"
FORMAT = "hydraflow-manifest"
VERSION = 1
HOST = socket.gethostname()


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


def has_manifest(sweep_dir: os.PathLike) -> bool:
    """True when ``sweep_dir`` holds a hydraflow manifest (its header was written)."""
    return (manifest_dir(sweep_dir) / HEADER).exists()


def read_header(sweep_dir: os.PathLike) -> Dict[str, Any]:
    """The manifest's header (``manifest.json``)."""
    return json.loads((manifest_dir(sweep_dir) / HEADER).read_text())


def folder(sweep_dir: os.PathLike, name: str, *parts: str) -> Path:
    """A backend's folder inside the manifest (:data:`EXEC`, :data:`NODE`, :data:`SUBMITIT`), not created."""
    return manifest_dir(sweep_dir).joinpath(name, *parts)


def slurm_records(sweep_dir: os.PathLike) -> Iterator[Dict[str, Any]]:
    """Every array submitted (or refused) for the sweep or job at ``sweep_dir``, in order."""
    return read_lines(manifest_dir(sweep_dir) / SLURM)


def add_slurm_record(sweep_dir: os.PathLike, record: Dict[str, Any]) -> None:
    append(manifest_dir(sweep_dir) / SLURM, json_line(record))


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
    if host != HOST or pid is None:
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


def json_line(record: Dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def append(path: Path, data: bytes) -> None:
    """One append of whole lines (O_APPEND: never interleaved with another writer's line)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


def read_lines(path: Path) -> Iterator[Dict[str, Any]]:
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



def disk_is_full(path: os.PathLike) -> bool:
    """True when the filesystem holding ``path`` has (next to) no space left for us."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024
