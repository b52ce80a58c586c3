"""What Slurm says about a sweep's arrays: one ``sacct`` call (or ``squeue``) for all of them. Light.

Used while waiting, by ``hydraflow status``, ``retry`` and ``cancel``; never
one call per run, whatever the sweep's size.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from hydraflow_core.manifest import read_lines, manifest_dir

#: Slurm states in which a task has ended.
ENDED_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT")

def _lines(command: List[str], job_ids: Iterable[str]) -> Optional[List[str]]:
    """The output lines of one Slurm query for every job of ``job_ids`` (``-j a,b``); None when it fails."""
    ids = sorted(set(job_ids))
    if not ids:
        return []
    try:
        out = subprocess.run([*command, "-j", ",".join(ids)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.splitlines() if out.returncode == 0 else None


def sacct_states(job_ids: Iterable[str]) -> Optional[Dict[str, str]]:
    """One ``sacct`` call for every array: ``{"123_4": "COMPLETED", ...}``; None when sacct fails."""
    lines = _lines(["sacct", "-X", "-n", "-P", "-o", "JobID,State"], job_ids)
    if lines is None:
        return None
    states: Dict[str, str] = {}
    for line in lines:
        job, _, state = line.partition("|")
        state = state.split(" ")[0].strip()  # 'CANCELLED by 0'
        match = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job)
        if match:  # pending tasks shown as a range: 123_[4-9%2]
            for index in _expand_range(match.group(2)):
                states[f"{match.group(1)}_{index}"] = state
        else:
            states[job] = state
    return states


def _expand_range(text: str) -> List[int]:
    out: List[int] = []
    for part in text.split("%")[0].split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def arrays_of(sweep_dir: Path) -> List[Dict[str, Any]]:
    """Every array submitted for a sweep (``.hydraflow/slurm.jsonl``)."""
    return list(read_lines(manifest_dir(sweep_dir) / "slurm.jsonl"))



def squeue_states(job_ids: Iterable[str]) -> Optional[Dict[str, str]]:
    """Without accounting: the tasks still queued or running (``squeue``); None when it fails."""
    lines = _lines(["squeue", "-h", "-r", "-o", "%i|%T"], job_ids)
    if lines is None:
        return None
    states: Dict[str, str] = {}
    for line in lines:
        job, _, state = line.partition("|")
        states[job.strip()] = state.strip()
    return states


def task_of_runs(sweep_dir: Path) -> Dict[int, str]:
    """Run number -> the Slurm task (``123_4``) that ran it last (the latest array wins)."""
    out: Dict[int, str] = {}
    for array in arrays_of(sweep_dir):
        for index, runs in enumerate(array.get("tasks_runs") or []):
            for number in runs:
                out[int(number)] = f"{array['job_id']}_{index}"
    return out
