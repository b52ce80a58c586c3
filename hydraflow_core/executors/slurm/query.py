"""What Slurm says about a sweep's tasks: one ``sacct`` call and one ``squeue`` call for all of them. Light.

Used while waiting, by ``hydraflow status``, ``retry`` and ``cancel``; never
one call per run, whatever the sweep's size. A task is named as submitit
named it when it was submitted: ``123_4`` for an array task, ``123`` for a
one-task submission (submitit sends a single task as a plain job).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from hydraflow_core.manifest import slurm_records

#: Slurm states in which a task has ended.
ENDED_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT")
#: What a task Slurm no longer lists anywhere shows as (it was cancelled while pending, or purged).
GONE = "GONE"
#: What a task squeue no longer lists shows as when there is no accounting (sacct) to say how it ended.
UNLISTED = "UNLISTED"


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


def _parse(lines: List[str]) -> Dict[str, str]:
    states: Dict[str, str] = {}
    for line in lines:
        job, _, state = line.partition("|")
        job, state = job.strip(), state.split(" ")[0].strip()  # 'CANCELLED by 0'
        match = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job)
        if match:  # pending tasks shown as a range: 123_[4-9%2]
            for index in _expand_range(match.group(2)):
                states.setdefault(f"{match.group(1)}_{index}", state)
        else:
            states[job] = state
    return states


def sacct_states(job_ids: Iterable[str]) -> Optional[Dict[str, str]]:
    """One ``sacct`` call for every array: ``{"123_4": "COMPLETED", "876": "RUNNING"}``; None when it fails."""
    lines = _lines(["sacct", "-X", "-n", "-P", "-o", "JobID,State"], job_ids)
    return None if lines is None else _parse(lines)


def squeue_states(job_ids: Iterable[str]) -> Optional[Dict[str, str]]:
    """The tasks still queued or running (``squeue``); None when it fails."""
    lines = _lines(["squeue", "-h", "-r", "-o", "%i|%T"], job_ids)
    return None if lines is None else _parse(lines)


def pending_reasons(job_ids: Iterable[str]) -> Dict[str, str]:
    """Why each pending task of these arrays waits (``squeue %r``: ``AssocMaxJobsLimit`` ...); empty when
    squeue does not answer."""
    lines = _lines(["squeue", "-h", "-r", "-t", "PD", "-o", "%i|%r"], job_ids)
    return {} if lines is None else _parse(lines)


def task_states(tasks: Iterable[str]) -> Optional[Dict[str, str]]:
    """Every task's state in one ``sacct`` and (for those it does not list) one ``squeue`` call.

    A task that neither lists is :data:`GONE` (cancelled while pending: Slurm
    keeps no record of such array tasks), or :data:`UNLISTED` when sacct does
    not work here (no accounting). None when neither answered.
    """
    tasks = list(tasks)
    arrays = {task.split("_")[0] for task in tasks}
    found = sacct_states(arrays)
    missing = [t for t in tasks if found is None or t not in found]
    if not missing:
        return found
    queued = squeue_states(arrays)
    if found is None and queued is None:
        return None
    states = dict(found or {})
    for task in missing:
        states[task] = (queued or {}).get(task, GONE if found is not None else UNLISTED)
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
    """Every array submitted for a sweep or a job (``.hydraflow/slurm.jsonl``), refusals left out."""
    return [a for a in slurm_records(sweep_dir) if "job_id" in a]


def task_ids(array: Dict[str, Any]) -> List[str]:
    """The Slurm id of each task of an array record, as submitit gave them."""
    ids = array.get("task_ids")
    if ids:
        return [str(i) for i in ids]
    return [f"{array['job_id']}_{i}" for i in range(len(array.get("tasks_runs") or []))]


def task_of_runs(sweep_dir: Path) -> Dict[int, str]:
    """Run number -> the Slurm task (``123_4`` or ``876``) that ran it last (the latest array wins)."""
    out: Dict[int, str] = {}
    for array in arrays_of(sweep_dir):
        for task, runs in zip(task_ids(array), array.get("tasks_runs") or []):
            for number in runs:
                out[int(number)] = task
    return out


def attempt_of_runs(sweep_dir: Path) -> Dict[int, int]:
    """Run number -> the attempt of the latest array that holds it (a retry submits it again)."""
    out: Dict[int, int] = {}
    for array in arrays_of(sweep_dir):
        for runs in array.get("tasks_runs") or []:
            for number in runs:
                out[int(number)] = int(array.get("attempt") or 0)
    return out


def max_array_size() -> int:
    """The cluster's MaxArraySize (``scontrol show config``); Slurm's default 1001 if it cannot be read."""
    from hydraflow_core.executors.slurm.limits import cluster_config, config_value

    return int(config_value(cluster_config(), "MaxArraySize") or 1001)
