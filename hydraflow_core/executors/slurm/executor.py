"""The Slurm executor: a run plan's tasks as job arrays, then one wait for sweeps and jobs alike.

Every task is planned before anything is submitted (arrays are built from
all of them). While waiting, each run's state comes from the manifest (the
node records its runs as they go) and from one ``sacct`` (plus one
``squeue``) call per poll for every array, never one per run; a run whose
task Slurm says has ended, or no longer knows, without an end record of this
attempt ends with that task's state (:mod:`.states`). A stop signal cancels
nothing: the arrays go on on the cluster (``left_running``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional

from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.base import Executor, Options, RunResult
from hydraflow_core.executors.slurm import arrays as slurm_arrays, pending
from hydraflow_core.executors.slurm.feed import Feed
from hydraflow_core.executors.slurm.fields import checked_signal_delay
from hydraflow_core.executors.slurm.query import ENDED_STATES, GONE, UNLISTED, pending_reasons, task_states
from hydraflow_core.executors.slurm.states import fold
from hydraflow_core.executors.work import CannotRunOnNode, CommandWork, NodeWork, ReplayWork
from hydraflow_core.manifest import (
    COMPLETED, FAILED, FINAL, OVER, EventLog, add_slurm_record, disk_is_full, read,
)
from hydraflow_core.plan import Task

log = logging.getLogger(__name__)

#: Seconds a task may be over in Slurm's eyes before its runs without an end record end with its state
#: (the records of its last run may trail sacct a little on a shared filesystem).
SETTLE_SECONDS = 3.0
#: The same for a task neither sacct nor squeue lists: accounting may trail the queue on a busy controller.
GONE_SETTLE_SECONDS = 10.0


def wait_seconds(elapsed: float) -> float:
    """How often Slurm is asked: quick at first, at most every 5 s (one sacct call, whatever the sweep's size)."""
    return min(5.0, 0.5 + elapsed / 20)


#: How often the manifest is read while waiting (runs that end are seen within this), or less often where
#: reading it takes longer than a fifth of that (a sweep of many thousand runs).
MANIFEST_SECONDS = 0.5


class SlurmExecutor(Executor):
    backend = "slurm"

    def __init__(self, work: Any, options: Options = Options(), events: Optional[EventLog] = None) -> None:
        if not isinstance(work, (NodeWork, ReplayWork, CommandWork)):
            raise TypeError("the slurm backend runs commands, replays of recorded runs and functions imported on "
                            "the node, not functions in this process")
        if events is None:
            raise ValueError("the slurm backend needs the manifest's event log (its records are the results)")
        self.work, self.options, self.events = work, options, events
        self.record_dir = events.dir.parent.parent  # SWEEP_DIR/.hydraflow/events -> SWEEP_DIR
        settings, warning = checked_signal_delay(dict(options.slurm))
        if warning:
            log.warning(f"hydraflow: {warning}")
        self.settings = settings
        self.arrays: List[slurm_arrays.Array] = []
        self.feed: Optional[Feed] = None  # the attempt's waves, where its tasks do not all fit the queue at once
        self.replaying_because: Optional[str] = None  # node work fell back to replays: why

    def _spec(self, tasks: List[Task]) -> Dict[str, Any]:
        if isinstance(self.work, NodeWork):
            return self._node_spec(tasks)
        if isinstance(self.work, ReplayWork):
            return _replay_spec(self.work, tasks)
        batches = []
        for task in tasks:  # a task's batches run one after another
            entries = []
            for run in task.runs:
                command = self.work.command(Task(run.number, run.group, (run,), task.resources))
                entries.append({"run": run.number, "argv": list(command.argv), "cwd": command.cwd,
                                "log": command.log, **({"env": dict(command.env)} if command.env else {})})
            batches.append(entries)
        return {"kind": "command", "run_dir": str(self.record_dir), "batches": batches}

    def _node_spec(self, tasks: List[Task]) -> Dict[str, Any]:
        """An array whose tasks run the function imported on the node, its runs' configs written first;
        a replay's where a config (or, on the node, the function) cannot be imported there (said once)."""
        work = self.work
        spec = _replay_spec(work.fallback, tasks)
        try:
            work.write(tasks)
        except CannotRunOnNode as why:
            if self.replaying_because is None:
                log.info(f"hydraflow: Slurm tasks start the app again (replay): {why}")
            self.replaying_because = str(why)
            return spec
        return {**spec, "kind": "function", "runner": work.runner, "function": dict(work.function),
                "configs": work.configs, "parallel": work.parallel, "timeout": work.timeout}

    def submit(self, tasks: List[Task]) -> List[slurm_arrays.Array]:
        """Every task as array tasks (a refusal is recorded, then raised as a SchedulerError)."""
        with self._refusals_recorded():
            arrays = slurm_arrays.submit(tasks, self._spec, self.record_dir, self.events.attempt, self.settings,
                                         self.options.max_parallel, self.options.job_name)
        self._submitted(arrays)
        return arrays

    @contextlib.contextmanager
    def _refusals_recorded(self) -> Iterator[None]:
        try:
            yield
        except slurm_arrays.SchedulerError as error:
            add_slurm_record(self.record_dir, {"attempt": self.events.attempt, "refused": str(error)})
            raise

    def _submitted(self, arrays: List[slurm_arrays.Array]) -> None:
        self.arrays.extend(arrays)
        for array in arrays:
            for task in array.tasks:
                if self.on_start is not None:
                    self.on_start(task)

    def stream(self, tasks: Iterable[Task]) -> Iterator[RunResult]:
        tasks = list(tasks)  # the front end records the plan as they are pulled: all of it, before submitting
        noun = "batches" if isinstance(self.work, CommandWork) else "runs"
        self.feed = Feed.planned(self.record_dir, self.events.attempt, tasks, self._spec, self.settings,
                                 self.options, noun)
        if self.feed is not None:  # more tasks than the user may queue now: waves (.waves)
            self.feed.on_arrays = self._submitted
            with self._refusals_recorded():
                if not self.options.wait and self.feed.walk_away():
                    self.submitted_only = True
                    return
                yield from self.wait(self.feed.arrays, tasks)
            return
        arrays = self.submit(tasks)
        ids = ", ".join(a.job_id for a in arrays)
        runs = sum(len(t.runs) for t in tasks)
        log.info(f"hydraflow: {runs} runs as {len(tasks)} Slurm array tasks in {len(arrays)} array(s): {ids}")
        for array in arrays:
            if array.script:
                log.info(f"hydraflow: sbatch script of array {array.job_id}: {array.script}")
        if not self.options.wait:
            self.submitted_only = True
            return
        yield from self.wait(arrays, tasks)

    def stop(self, signum: int) -> Iterator[RunResult]:
        self.left_running = True  # nothing is cancelled: `hydraflow cancel` does that
        if self.feed is not None:  # waves still to come go on too: the cluster submits them
            self.feed.hand_over()
        return iter(())

    def wait(self, arrays: List[slurm_arrays.Array], tasks: List[Task]) -> Iterator[RunResult]:
        """Every run's result as it ends; only records of this attempt count (a retry's runs ended before).
        Waves still to come go out as they fit (:attr:`feed`), checked each time Slurm is asked."""
        attempt = self.events.attempt
        task_of: Dict[int, str] = {}
        runs = {run.number: run for task in tasks for run in task.runs}

        def watch(submitted: List[slurm_arrays.Array]) -> None:
            for array in submitted:
                for task_id, task in zip(array.task_ids, array.tasks):
                    for run in task.runs:
                        task_of[run.number] = task_id

        watch(arrays)
        left = set(runs)
        over_since: Dict[str, float] = {}
        started, shown = time.monotonic(), None
        states: Dict[str, str] = {}
        waiting = ""
        ask_at = 0.0  # when Slurm is asked next
        while left:
            stops.check()
            reading = time.monotonic()
            records = {r.number: r for r in read(self.record_dir).runs}
            reading = time.monotonic() - reading
            if time.monotonic() >= ask_at:
                states = task_states(set(task_of.values())) or {}
                if self.feed is not None and self.feed.waves_left:
                    # The waves that fit now; with no task of ours queued (none will free room later), what fits.
                    ours = any(states.get(t) not in (*ENDED_STATES, GONE, UNLISTED) for t in task_of.values())
                    watch(self.feed.send(partial=not ours).arrays)
                waiting = self._waiting(states, task_of)
                ask_at = time.monotonic() + wait_seconds(time.monotonic() - started)
            full = None
            for number in sorted(left):
                record, task = records.get(number), task_of.get(number)
                if record is not None and record.state in FINAL and (record.attempt or 0) >= attempt:
                    left.discard(number)
                    yield _from_record(runs[number], record, task or "")
                    continue
                if task is None:  # in a wave still to come
                    continue
                slurm = states.get(task)
                if slurm not in ENDED_STATES and slurm not in (GONE, UNLISTED):
                    continue
                first = over_since.setdefault(task, time.monotonic())
                if time.monotonic() - first < (GONE_SETTLE_SECONDS if slurm == GONE else SETTLE_SECONDS):
                    continue
                if full is None:
                    full = disk_is_full(self.record_dir)
                mine = record is not None and (record.attempt or 0) >= attempt
                state, error = fold(record.state if mine else "pending", bool(mine and record.started), task, slurm,
                                    record.error if mine else None, disk_full=full)
                if state not in OVER and state != COMPLETED:
                    state = FAILED
                left.discard(number)
                yield RunResult(runs[number], state, error, job_id=task,
                                log=record.log if record is not None else None,
                                output_dir=record.output_dir if record is not None else None)
            counts = _counts(states, task_of)
            if (counts, waiting) != shown:
                shown = counts, waiting
                log.info("hydraflow: slurm tasks: " + ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
                         + f"; runs ended: {len(runs) - len(left)} of {len(runs)}"
                         + (f"; waiting: {waiting}" if waiting else "")
                         + (f"; {self.feed.to_come()}" if self.feed is not None and self.feed.waves_left else ""))
            if left:  # the manifest read again soon (a run's end shows at once), Slurm asked at its interval
                stops.sleep(min(max(MANIFEST_SECONDS, 4 * reading), max(0.0, ask_at - time.monotonic())))


    def _waiting(self, states: Dict[str, str], task_of: Dict[int, str]) -> str:
        """Why the pending tasks wait, in words (one squeue call; nothing when none is pending)."""
        tasks = set(task_of.values())
        if not any(states.get(task, "PENDING") == "PENDING" for task in tasks):
            return ""
        reasons = pending_reasons({task.split("_")[0] for task in tasks})
        return pending.explained(reasons[task] for task in tasks if task in reasons)


def _replay_spec(work: ReplayWork, tasks: List[Task]) -> Dict[str, Any]:
    return {"kind": "replay", "sweep_dir": work.sweep_dir, "reason": "task", "argv": list(work.argv),
            "cwd": work.cwd, "tasks": [list(t.numbers) for t in tasks], **({"env": dict(work.env)} if work.env else {})}


def _from_record(run, record, task: str) -> RunResult:
    return RunResult(run, record.state, record.error, log=record.log, output_dir=record.output_dir,
                     job_id=record.job_id or task, started=record.started,
                     duration=(record.ended or 0) - (record.started or 0) if record.started else 0.0,
                     returned=record.extra.get("return_value"), returncode=record.extra.get("returncode"))


def _counts(states: Dict[str, str], task_of: Dict[int, str]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for task in set(task_of.values()):
        state = states.get(task, "PENDING")
        out[state] = out.get(state, 0) + 1
    return dict(sorted(out.items()))

