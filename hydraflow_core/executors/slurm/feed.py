"""The Slurm executor's side of waves: plan them, send the first, feed the rest while waiting, hand them
over to the cluster on a stop. Heavy (submitit, through :mod:`.submitter`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.slurm import limits, submitter, wavefile, waves as planning
from hydraflow_core.executors.slurm.arrays import Array
from hydraflow_core.executors.slurm.query import squeue_states
from hydraflow_core.plan import Task

log = logging.getLogger(__name__)

#: Seconds between looks at the queue while the first wave waits for room (wait=false).
FIRST_POLL = 5.0
#: How long a stopped launcher waits for a place in the queue for the job that takes its waves over.
HAND_OVER_SECONDS, HAND_OVER_POLL = 120.0, 1.0


class Feed:
    """One attempt's waves, as the executor that planned them sees them."""

    def __init__(self, record_dir: Path, attempt: int, tasks: List[Task], plan: planning.Waves) -> None:
        self.record_dir, self.attempt, self.plan = record_dir, attempt, plan
        self.waves = plan.split(tasks)
        self.sent: set = set()  # indices of the tasks submitted
        self.guarded = plan.guarded  # the cluster submits the waves (wave jobs), not this process
        self.arrays: List[Array] = []
        self.on_arrays: Callable[[List[Array]], None] = lambda arrays: None

    @classmethod
    def planned(cls, record_dir: Path, attempt: int, tasks: List[Task], spec_of: Callable[[List[Task]], Dict],
                settings: Dict[str, Any], options: Any, noun: str) -> Optional["Feed"]:
        """The waves of ``tasks`` where they do not all fit the user's queue now, recorded with every task's
        part of the spec (``spec_of(tasks)``: the runs' configs are written now); None when they fit."""
        site = limits.read(account=settings.get("account"), qos=settings.get("qos"))
        plan = planning.plan(len(tasks), site, walk_away=not options.wait)
        if plan is None:
            return None
        log.info(planning.said(plan, sum(len(t.runs) for t in tasks), site, noun))
        record = submitter.plan_record(tasks, spec_of(tasks), plan, settings, options.max_parallel,
                                       options.job_name, int(site.max_submit or 0))
        wavefile.write_plan(record_dir, attempt, record)
        return cls(record_dir, attempt, tasks, plan)

    @property
    def runs_left(self) -> int:
        return sum(len(t.runs) for wave in self.waves for t in wave if t.index not in self.sent)

    @property
    def waves_left(self) -> int:
        return sum(1 for wave in self.waves if any(t.index not in self.sent for t in wave))

    def to_come(self) -> str:
        return planning.to_come(self.runs_left, self.waves_left) if self.waves_left else ""

    def send(self, partial: bool) -> submitter.Submitted:
        """The waves that fit now (see :func:`~.submitter.submit_next`), logged and handed to ``on_arrays``."""
        done = submitter.submit_next(self.record_dir, partial=partial, wait=0.0 if self.guarded else 5.0)
        if done.arrays:
            for array in done.arrays:
                self.sent.update(t.index for t in array.tasks)
            self.arrays.extend(done.arrays)
            count = sum(len(a.tasks) for a in done.arrays)
            log.info(f"hydraflow: a wave of {count} array task(s) submitted: {', '.join(a.job_id for a in done.arrays)}"
                     + (f"; {self.to_come()}" if self.waves_left else "; every wave submitted")
                     + (f"; its wave job: {done.job}" if done.job else ""))
            self.on_arrays(done.arrays)
        return done

    def first(self) -> submitter.Submitted:
        """The first wave, waiting here while the queue has no room for it (said once)."""
        said = False
        while True:
            done = self.send(partial=True)
            if done.arrays:
                return done
            if not said:
                log.info("hydraflow: your queue has no room for the first wave yet: waiting for some of your "
                         "jobs to end (squeue -u $USER)")
                said = True
            stops.sleep(FIRST_POLL)

    def walk_away(self) -> bool:
        """After the first wave (wait=false): True when the cluster submits the rest; else (its wave job was
        refused) this process takes them back and waits, and says why."""
        done = self.first()
        if done.refused is None:
            return True
        log.warning(f"hydraflow: the job that would submit the next waves was refused ({done.refused}): waiting "
                    f"here to submit them as earlier tasks end")
        wavefile.note(self.record_dir, self.attempt, guarded=False)
        self.guarded = False
        return False

    def hand_over(self) -> None:
        """A stop while waves are still to come: the cluster submits them (a wave job that starts once this
        attempt's queued arrays have ended), so the sweep goes on, as the tasks submitted do."""
        pending = wavefile.read(self.record_dir)
        if not self.waves_left or pending is None or pending.attempt != self.attempt or not pending.live:
            return  # every wave went out, or hydraflow cancel dropped the rest
        if not self.arrays:
            wavefile.note(self.record_dir, self.attempt, gave_up="stopped before the first wave went out")
            return
        if self.guarded:
            return
        wavefile.note(self.record_dir, self.attempt, guarded=True)
        job, refused = self._wave_job(pending.plan)
        if job:
            log.info(f"hydraflow: {self.to_come()}: the cluster submits them (wave job {job})")
        else:
            why = f"Slurm refused the wave job ({refused}): `hydraflow retry {self.record_dir}` submits them"
            wavefile.note(self.record_dir, self.attempt, gave_up=why)
            log.warning(f"hydraflow: {self.to_come()}; {why}")

    def _wave_job(self, plan: Dict[str, Any]) -> tuple:
        """The wave job of a hand-over, once the queue has a place for it (a waiting launcher's waves fill the
        queue): tried again for up to :data:`HAND_OVER_SECONDS`, or until a second stop signal."""
        forced: List[bool] = []
        unregister = stops.on_second_signal(lambda: forced.append(True))
        deadline, said = time.monotonic() + HAND_OVER_SECONDS, False
        try:
            while True:
                queued = squeue_states({a.job_id for a in self.arrays}) or {}
                after = sorted({task.split("_")[0] for task in queued})
                last = forced or time.monotonic() > deadline
                job, refused = submitter.wave_job(self.record_dir, self.attempt, after, plan["settings"],
                                                  plan["job_name"], record_refusal=bool(last))
                if job or last or not submitter.queue_full(refused):
                    return job, refused
                if not said:
                    said = True
                    log.warning("hydraflow: waiting for a place in your queue to hand the waves to come over to the "
                                "cluster (stop again to leave them to `hydraflow retry`)")
                time.sleep(HAND_OVER_POLL)
        finally:
            unregister()
