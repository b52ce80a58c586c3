"""A run's state from its own records and from what Slurm says of its task: one rule for the wait and `status`.

A run's own end record always wins (completed, failed, and timed out: past
``hydra.launcher.timeout_min``, which the task's app keeps per run). A run without one
takes its task's state: pending or running while Slurm has it queued or
running, requeued while it waits to run again, and once Slurm says the task
ended: cancelled, timed out, out of memory, node fail, preempted, or failed
(the error says which task and why). A task Slurm no longer knows at all,
that left no end record, was cancelled before it started.
"""

from __future__ import annotations

from typing import Optional, Tuple

from hydraflow_core.executors.slurm.query import ENDED_STATES, GONE, UNLISTED
from hydraflow_core.manifest import (
    CANCELLED, FAILED, FINAL, INTERRUPTED, LOST, NODE_FAIL, OUT_OF_MEMORY, PENDING, PREEMPTED, REQUEUED, RUNNING,
    TIMED_OUT,
)

#: How Slurm's end states show for a run that has no end record of its own.
SLURM_ENDED = {"CANCELLED": CANCELLED, "TIMEOUT": TIMED_OUT, "OUT_OF_MEMORY": OUT_OF_MEMORY,
               "NODE_FAIL": NODE_FAIL, "PREEMPTED": PREEMPTED, "FAILED": FAILED, "BOOT_FAIL": NODE_FAIL,
               "DEADLINE": TIMED_OUT, "COMPLETED": LOST, "REVOKED": CANCELLED, "SPECIAL_EXIT": FAILED}
_QUEUED = ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "RESV_DEL_HOLD")
_RUNNING = ("RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING")


def fold(state: str, started: bool, task: str, slurm: Optional[str], error: Optional[str] = None,
         disk_full: bool = False) -> Tuple[str, Optional[str]]:
    """The state (and error) of a run whose latest record says ``state``, whose task Slurm says is ``slurm``.

    ``started``: the run has a start record. ``disk_full``: the sweep's disk
    has no space left (a run that ended without a record is then named for it).
    """
    if state in FINAL or slurm is None:
        return state, error  # its own end record says it all (or Slurm says nothing)
    if state == INTERRUPTED:  # stopped by a signal on the node: why, or that it comes back
        if slurm in ENDED_STATES and slurm != "COMPLETED":
            return SLURM_ENDED.get(slurm, FAILED), f"Slurm says task {task} ended ({slurm}); the run was " \
                                                   f"{error or 'stopped'}"
        if slurm in _QUEUED or slurm in _RUNNING:
            return REQUEUED, error
        if slurm == GONE:  # stopped, and its task no longer known (accounting lost it): it was cancelled
            return CANCELLED, f"Slurm no longer knows task {task}; the run was {error or 'stopped'}"
        return state, error
    if slurm == "PENDING":
        return (REQUEUED if started else PENDING), error
    if slurm in _QUEUED:
        return REQUEUED, error
    if slurm in _RUNNING:
        return (RUNNING if started or state == RUNNING else PENDING), error
    if slurm == GONE:
        return CANCELLED, f"Slurm no longer knows task {task} and the run has no end record: it was cancelled " \
                          f"before it ended"
    if slurm == UNLISTED:
        return LOST, f"Slurm task {task} is no longer queued, and the run has no end record"
    if slurm in ENDED_STATES:
        if disk_full and slurm in ("FAILED", "COMPLETED"):
            return FAILED, f"the Slurm task {task} ended ({slurm}) without recording the run: the disk is full"
        return SLURM_ENDED.get(slurm, FAILED), f"Slurm says task {task} ended ({slurm}), but the run has no end record"
    return state, error
