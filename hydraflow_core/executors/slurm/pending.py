"""Why a task waits: Slurm's pending reason (``squeue %r``), in words and as Slurm names it. Light."""

from __future__ import annotations

import functools
from typing import Dict, Iterable, List, Optional

#: Slurm's pending reasons -> words. ``{running}`` is the user's limit on running jobs, where known.
WORDS: Dict[str, str] = {
    "AssocMaxJobsLimit": "your limit of {running} running jobs",
    "AssocGrpJobsLimit": "your group's limit of running jobs",
    "QOSMaxJobsPerUserLimit": "your QOS's limit of {running} running jobs",
    "QOSGrpJobsLimit": "the QOS's limit of running jobs",
    "AssocMaxSubmitJobLimit": "your limit of queued jobs",
    "AssocGrpCpuLimit": "your group's limit of CPUs",
    "AssocGrpCPUMinutesLimit": "your group's CPU-minutes",
    "AssocGrpGRES": "your group's limit of GPUs or other resources",
    "QOSMaxCpuPerUserLimit": "your QOS's limit of CPUs",
    "QOSMaxGRESPerUser": "your QOS's limit of GPUs or other resources",
    "JobArrayTaskLimit": "the array's limit of tasks at once (%N: max_parallel)",
    "Priority": "other jobs go first",
    "Resources": "free nodes, CPUs or memory",
    "Dependency": "another job to end",
    "BeginTime": "its start time",
    "ReqNodeNotAvail": "a node that is not available",
    "PartitionTimeLimit": "a time limit over the partition's (slurm.timeout_min)",
    "PartitionNodeLimit": "more nodes than the partition allows",
    "PartitionDown": "its partition, which is down",
    "QOSMaxWallDurationPerJobLimit": "a time limit over the QOS's (slurm.timeout_min)",
    "JobHeldUser": "a hold of yours (scontrol release)",
    "JobHeldAdmin": "a hold of the administrators'",
}


def said(reason: str, running: Optional[int] = None) -> str:
    """``your limit of 4 running jobs (AssocMaxJobsLimit)``; a reason without words as Slurm names it."""
    words = WORDS.get(reason)
    if words is None:
        return reason
    if "{running}" in words:
        words = words.format(running=running) if running is not None else words.replace("{running} ", "")
    return f"{words} ({reason})"


def summary(reasons: Iterable[Optional[str]], running: Optional[int] = None) -> str:
    """``4 pending: your limit of 4 running jobs (AssocMaxJobsLimit)``, one part per reason, most first."""
    counts: Dict[str, int] = {}
    for reason in reasons:
        if reason and reason != "None":
            counts[reason] = counts.get(reason, 0) + 1
    return "; ".join(f"{n} pending: {said(r, running)}"
                     for r, n in sorted(counts.items(), key=lambda item: -item[1]))


def explained(reasons: Iterable[Optional[str]]) -> str:
    """:func:`summary`, with the user's limit on running jobs read (once per process) where the words need it."""
    reasons: List[Optional[str]] = list(reasons)
    needs = any("{running}" in WORDS.get(r or "", "") for r in reasons)
    return summary(reasons, _running_limit() if needs else None)


@functools.lru_cache(maxsize=1)
def _running_limit() -> Optional[int]:
    from hydraflow_core.executors.slurm import limits

    return limits.read().max_running
