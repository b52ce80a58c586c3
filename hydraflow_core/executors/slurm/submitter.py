"""Submitting the waves of a sweep that does not fit the user's queue at once. Heavy (submitit).

The executor records every task of such an attempt with its part of the
array spec (:func:`plan_record`, into :mod:`.wavefile`); then whoever
submits -- the waiting launcher from its poll loop, or with ``wait: false``
a wave's small job (:class:`WaveJob`) -- calls :func:`submit_next`: under the
lock, the waves that fit the user's queue now go out as arrays, recorded in
``slurm.jsonl`` like the first (same attempt), each followed, when the
cluster submits the waves, by a small job that Slurm starts once they have
ended (``--dependency=afterany``) to submit the next.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import submitit

from hydraflow_core.executors.slurm import arrays as slurm_arrays, limits, wavefile
from hydraflow_core.executors.slurm.fields import submitit_parameters
from hydraflow_core.executors.slurm.query import arrays_of
from hydraflow_core.executors.slurm.waves import Waves, choose
from hydraflow_core.manifest import add_slurm_record, slurm_ids
from hydraflow_core.plan import Run, Task

log = logging.getLogger(__name__)

#: The settings a wave's small job keeps of the arrays' (where and as whom it runs, how Python starts);
#: it asks for 1 CPU, a little memory and at most :data:`JOB_MINUTES`.
JOB_KEEPS = ("partition", "qos", "account", "constraint", "exclude", "nodelist", "setup", "python",
             "submitit_folder", "wckey", "comment", "use_srun")
JOB_MINUTES = 30
#: Seconds between looks at the queue of the last wave job while nothing fits.
JOB_POLL = 15.0
#: Words of sbatch's refusal when the user's queue is full (someone else submitted meanwhile): no room now.
_FULL = ("submit limit", "maxsubmit", "QOSMaxSubmitJob", "AssocMaxSubmitJob")


@dataclass(frozen=True)
class Submitted:
    """What one :func:`submit_next` call did."""

    arrays: List[slurm_arrays.Array]
    job: Optional[str] = None  # the wave job that submits the next waves
    refused: Optional[str] = None  # Slurm refused that job: nobody in the cluster submits the rest


def plan_record(tasks: Sequence[Task], spec: Dict[str, Any], waves: Waves, settings: Dict[str, Any],
                max_parallel: Optional[int], job_name: str, max_submit: int) -> Dict[str, Any]:
    """Every task of the attempt, by wave, with its part of ``spec`` (the spec of all of them)."""
    key = "batches" if spec.get("kind") == "command" else "tasks"
    entries = spec[key]
    common = {k: v for k, v in spec.items() if k != key}
    records = [{"index": t.index, "group": t.group, "runs": list(t.numbers),
                "resources": [list(pair) for pair in t.resources], "entry": entry}
               for t, entry in zip(tasks, entries)]
    return {"max_submit": max_submit, "guarded": waves.guarded, "sizes": waves.sizes(), "key": key,
            "spec": common, "settings": settings, "max_parallel": max_parallel, "job_name": job_name,
            "waves": waves.split(records)}


def queue_full(refusal: str) -> bool:
    """True when Slurm refused a submission because the user's queue is full (no room now; later, maybe)."""
    return any(word.lower() in refusal.lower() for word in _FULL)


def submit_next(sweep_dir: Path, partial: bool = False, wait: float = 5.0) -> Submitted:
    """The waves that fit now (``partial``: as much of the next as fits, when nothing else will free room),
    with their wave job when the cluster submits the rest; nothing when another submitter holds the lock."""
    with wavefile.locked(sweep_dir, wait) as held:
        pending = wavefile.read(sweep_dir) if held else None
        if pending is None or not pending.live:
            return Submitted([])
        plan = pending.plan
        left = pending.waves_left()
        room = int(plan["max_submit"]) - limits.queued_now()
        chosen = choose(left, room, pending.guarded, partial)
        if not chosen:
            return Submitted([])
        tasks = [Task(t["index"], t["group"], tuple(Run(n, (), t["group"]) for n in t["runs"]),
                      tuple(tuple(pair) for pair in t["resources"])) for t in chosen]
        entries = {t["index"]: t["entry"] for t in chosen}

        def spec_of(part: List[Task]) -> Dict[str, Any]:
            return {**plan["spec"], plan["key"]: [entries[t.index] for t in part]}

        wave = next(i for i, w in enumerate(plan["waves"]) if any(t["index"] == chosen[0]["index"] for t in w))
        first = sum(1 for a in arrays_of(sweep_dir) if a.get("attempt") == pending.attempt)
        try:
            submitted = slurm_arrays.submit(tasks, spec_of, sweep_dir, pending.attempt, plan["settings"],
                                            plan["max_parallel"], plan["job_name"], first_index=first,
                                            extra={"wave": wave})
        except slurm_arrays.SchedulerError as error:
            if not queue_full(str(error)):
                raise
            if not error.submitted:  # the queue filled meanwhile: no room after all
                return Submitted([])
            submitted = error.submitted  # what went out before it filled goes on; the rest waits
        sent = sum(len(a.tasks) for a in submitted)
        if not pending.guarded or sent == sum(len(w) for w in left):
            return Submitted(submitted)
        return Submitted(submitted, *wave_job(sweep_dir, pending.attempt, [a.job_id for a in submitted],
                                              plan["settings"], plan["job_name"]))


def wave_job(sweep_dir: Path, attempt: int, after: List[str], settings: Dict[str, Any],
             job_name: str, record_refusal: bool = True) -> tuple:
    """Submit the small job that submits the next waves once the arrays ``after`` have ended:
    ``(job id, None)``, or ``(None, Slurm's refusal)``; recorded in ``slurm.jsonl`` (a refusal too,
    unless ``record_refusal`` is False: the caller tries again)."""
    kept = {k: settings[k] for k in JOB_KEEPS if settings.get(k) is not None}
    minutes = min(int(settings.get("timeout_min") or JOB_MINUTES), JOB_MINUTES)
    job_settings = {**kept, "cpus_per_task": 1, "mem_gb": 1, "timeout_min": minutes, "nodes": 1,
                    "tasks_per_node": 1}
    folder = str(settings.get("submitit_folder") or f"{sweep_dir}/.submitit/%j")
    executor = submitit.SlurmExecutor(folder=folder, python=settings.get("python") or None)
    executor.update_parameters(**submitit_parameters(job_settings, f"{job_name}-waves"),
                               **({"dependency": "afterany:" + ":".join(after)} if after else {}))
    try:
        job = slurm_arrays.submitted(lambda: executor.submit(WaveJob(str(sweep_dir), attempt, minutes)))
    except Exception as error:  # noqa: BLE001 - any refusal: recorded, said, and the caller goes on
        said = str(slurm_arrays.refusal(error, job_settings, []))
        if record_refusal:
            add_slurm_record(sweep_dir, {"attempt": attempt, "guard_refused": said})
        return None, said
    add_slurm_record(sweep_dir, {"attempt": attempt, "guard": str(job.job_id), "after": after})
    return str(job.job_id), None


class WaveJob:
    """A wave's small job (picklable: the sweep and its attempt): the waves that fit, once its wave ended.

    The newest such job is the last submitter (no later wave, so no later
    job, will come): while nothing fits it looks again every
    :data:`JOB_POLL` seconds, and submits as much as fits, until its time
    is nearly up; then the runs to come stay recorded (``hydraflow status``
    says so, ``hydraflow retry`` submits them).
    """

    def __init__(self, sweep_dir: str, attempt: int, minutes: int = JOB_MINUTES) -> None:
        self.sweep_dir, self.attempt, self.minutes = sweep_dir, attempt, minutes

    def __call__(self) -> str:
        me = slurm_ids()[0]
        deadline = time.monotonic() + max(60.0, self.minutes * 60 - 90)
        while True:
            pending = wavefile.read(self.sweep_dir)
            if pending is None or pending.attempt != self.attempt or not pending.live:
                return "nothing left to submit"
            last = bool(pending.guards) and pending.guards[-1] == me
            done = submit_next(Path(self.sweep_dir), partial=last, wait=60.0)
            if done.refused:  # nobody in the cluster would submit the rest
                wavefile.note(self.sweep_dir, self.attempt, gave_up=f"Slurm refused the next wave job: {done.refused}")
            if done.arrays:
                return f"submitted {', '.join(a.job_id for a in done.arrays)}"
            if not last:
                return "a later wave's job submits the rest"
            if time.monotonic() > deadline:
                why = (f"the wave job {me} found no room in your queue for {self.minutes} min: `hydraflow retry "
                       f"{self.sweep_dir}` submits the runs still to come")
                wavefile.note(self.sweep_dir, self.attempt, gave_up=why)
                return why
            time.sleep(JOB_POLL)
