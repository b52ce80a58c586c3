"""A Slurm sweep's state as it really is: each run's own records, with what Slurm says of its task folded in.

`hydraflow status`, `retry`, `cancel` and a sweep launched again into the same
directory (:mod:`hydraflow_core.earlier`) read a sweep through :func:`apply_slurm`.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from hydraflow_core import manifest
from hydraflow_core.executors.slurm import wavefile
from hydraflow_core.manifest import PENDING, PLANNED, SweepState


def apply_slurm(state: SweepState) -> Optional[str]:
    """Fold in what Slurm says of a Slurm sweep's tasks (one sacct and one squeue call); a note, if any.

    The rule is the one the launcher's wait uses (:mod:`hydraflow_core.executors.slurm.states`).
    """
    from hydraflow_core.executors.slurm.query import (UNLISTED, attempt_of_runs, pending_reasons, task_of_runs,
                                                      task_states)
    from hydraflow_core.executors.slurm.states import fold

    notes = [f"Slurm refused attempt {a['attempt']}: {a['refused']}" for a in
             manifest.slurm_records(state.sweep_dir) if "refused" in a]
    tasks = task_of_runs(state.sweep_dir)
    waves = wavefile.read(state.sweep_dir)
    if waves is not None and waves.gave_up and waves.waves_left():
        notes.append(f"{_left(waves)} were never submitted: {waves.gave_up}")
    waves = waves if waves is not None and waves.live else None
    if not tasks and waves is None:
        return "; ".join(notes) or None
    states = task_states(set(tasks.values()) | set(waves.guards if waves else ()))
    if waves is not None:
        notes.extend(_waves_to_come(state, waves, states))
    if states is None:
        notes.append("neither sacct nor squeue answered: states come from the manifest alone")
        return "; ".join(notes)
    if UNLISTED in states.values():
        notes.append("sacct is not available: states come from the manifest and squeue")
    full = None
    reasons = None
    submitted = attempt_of_runs(state.sweep_dir)
    for run in state.runs:
        job = tasks.get(run.number)
        started = run.started is not None
        if job is not None and run.attempt is not None and run.attempt < submitted.get(run.number, 0):
            # submitted again by a later attempt (a retry that did not wait), and not started there yet
            run.state, run.error, run.ended, run.job_id, started = PLANNED, None, None, None, False
        if job is None or run.state in manifest.FINAL:
            continue
        if full is None:
            full = manifest.disk_is_full(state.sweep_dir)
        run.job_id = run.job_id or job
        run.state, run.error = fold(run.state, started, job, states.get(job), run.error, full)
        if run.state == PENDING:
            if reasons is None:
                reasons = pending_reasons({task.split("_")[0] for task in tasks.values()})
            run.reason = reasons.get(job)
    return "; ".join(notes) or None


def _waves_to_come(state: SweepState, waves: "wavefile.Pending", states: Optional[Dict[str, str]]) -> List[str]:
    """Runs of waves still to submit show as pending while someone submits them (the waiting launcher, a
    wave job still queued), and :attr:`SweepState.to_come` says how many; else a note says they never will."""
    from hydraflow_core.executors.slurm.query import ENDED_STATES, GONE, UNLISTED

    left = waves.waves_left()
    numbers = {n for wave in left for task in wave for n in task["runs"]}
    over = (*ENDED_STATES, GONE, UNLISTED)
    if not (state.launcher_alive or any((states or {}).get(job, "PENDING") not in over for job in waves.guards)):
        return [f"{_left(waves)} still to submit, but nothing submits them any more (the launcher or wave job "
                f"that did has ended): `hydraflow retry {state.sweep_dir}` submits them"]
    state.to_come = (len(numbers), len(left))
    for run in state.runs:
        if run.number in numbers and (run.attempt or 0) < waves.attempt:  # an earlier attempt's end is old news
            run.state = PENDING
    return []


def _left(waves: "wavefile.Pending") -> str:
    """``40 runs in 4 waves``: what of an attempt's waves was not submitted."""
    left = waves.waves_left()
    runs = sum(len(task["runs"]) for wave in left for task in wave)
    return f"{runs} run{'s' * (runs != 1)} in {len(left)} wave{'s' * (len(left) != 1)}"
