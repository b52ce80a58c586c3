"""Execute a plan's batches: ``run`` (subprocesses, N at once), ``call``
(in-process) and ``submit`` (one command for all batches).

``run`` and ``call`` go through the local executor (one scheduling loop,
signals and faults handled there) and record every batch in the run
directory's manifest (``.hydraflow/``) as it starts and ends, so a crash, a
kill or Ctrl-C never loses what already ran, and ``hydraflow status`` /
``hydraflow retry`` work on the run directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Protocol, Sequence, Tuple

from hydraflow_core import default_launcher
from hydraflow_core import manifest as manifests
from hydraflow_core.errors import UsageError
from hydraflow_core.executors import (
    Command, CommandWork, FunctionWork, Options, RunResult, Stopped, stop_signals,
)
from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.local.runone import os_error_text
from hydraflow_core.jobs.batches import LOG_NAME, OUTPUT_ROOT, Batch, Plan
from hydraflow_core.jobs.submit import batches_file_text, submit_command
from hydraflow_core.plan import Run, Task
from hydraflow_core.cli.call import CallFunction
from hydraflow_core.session import Session

NOT_STARTED = "not started"  # shown in the summary for batches a stop kept from starting


@dataclass
class BatchResult:
    index: int
    name: str
    state: str
    returncode: Optional[int]
    duration: float  # seconds
    log: Optional[str]  # path of the batch's log, relative to the job file's directory
    started_at: Optional[float] = None  # Unix time
    error: Optional[str] = None


class Events(Protocol):
    def started(self, batch: Batch) -> None: ...

    def finished(self, result: BatchResult) -> None: ...


def new_run_id(directory: Path, job: str) -> str:
    """A run id from the start time, unique among the job's earlier runs (its dir is created)."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    runs = directory / OUTPUT_ROOT / job
    for attempt in range(1000):
        run_id = stamp if attempt == 0 else f"{stamp}-{attempt}"
        try:
            (runs / run_id).mkdir(parents=True)
            return run_id
        except FileExistsError:
            continue
    raise UsageError(f"cannot create a run directory under {runs}")


def job_header(plan: Plan, directory: Path, command: Sequence[str], max_parallel: int) -> Dict[str, Any]:
    """The run directory's manifest header: the job, and how to run each batch again."""
    job = plan.job
    return {
        "kind": "job", "job": job.name, "slurm": bool(job.slurm or any(s.slurm for s in job.steps)), "job_kind": job.kind, "target": job.target,
        "command": list(command), "directory": str(directory), "run_dir": plan.run_dir,
        "max_parallel": max_parallel, "runs": len(plan.batches),
        **({"timeout_min": job.timeout_min} if job.timeout_min else {}),
        **({"lead": list(job.lead)} if job.lead else {}),
        "launch": {"python": sys.executable, "argv": [sys.executable, *sys.argv], "cwd": os.getcwd()},
    }


def plan_records(batches: Iterable[Batch]) -> Iterator[Dict[str, Any]]:
    """One plan record per batch."""
    return ({"run": b.index, "overrides": list(b.arguments), "group": b.step, "task": b.index,
             "name": b.name, "sweep_dir": b.sweep_dir, "batch": list(b.grid),
             **({"slurm": dict(b.slurm)} if b.slurm else {})}
            for b in batches)


def batch_tasks(batches: Iterable[Batch], per_task: int = 1) -> List[Task]:
    """Tasks of up to ``per_task`` consecutive batches with the same `slurm:` settings (the task's resources),
    run one after another; a task is numbered as its first batch."""
    tasks: List[Task] = []
    for b in batches:
        run, resources = Run(b.index, tuple(b.arguments), b.step), tuple(sorted(b.slurm, key=str))
        last = tasks[-1] if tasks else None
        if last is not None and last.resources == resources and len(last.runs) < per_task:
            tasks[-1] = Task(last.index, last.group, (*last.runs, run), resources)
        else:
            tasks.append(Task(b.index, b.step, (run,), resources))
    return tasks


def fit_to_site(batches: Sequence[Batch], max_parallel: Optional[int]) -> Tuple[int, Optional[int], List[str]]:
    """A job's batches on Slurm: how many to a task so that its array tasks fit the user's limit on queued
    jobs, the arrays' ``%N`` (given, else the user's limit on running jobs: None, Slurm's default), and
    what to tell the user."""
    from hydraflow_core.executors.slurm import limits, waves

    site = limits.read()
    per_task, said = limits.fit(len(batches), None, site, groups=len({b.slurm for b in batches}), noun="batches",
                                setting=None)
    notes = [said] if said else []
    planned = waves.plan(len(batch_tasks(batches, per_task)), site)  # what the executor does where packing cannot fit
    if planned is not None:
        notes.append(waves.said(planned, len(batches), site, noun="batches"))
    if max_parallel is None:
        max_parallel = site.max_running
    elif site.max_running is not None and max_parallel > site.max_running:
        notes.append(f"hydraflow: max_parallel {max_parallel} is above {site.said('max_running')}: at most "
                     f"{site.max_running} batches run at once")
    return per_task, max_parallel, notes


def batch_command(command: Sequence[str], directory: Path, batches: Dict[int, Batch]) -> CommandWork:
    """``<command> -m <arguments>`` per batch, run in the job file's directory, into the batch's log,
    on the hydraflow launcher unless the app or the batch chooses one (:mod:`hydraflow_core.default_launcher`)."""
    def of(task: Task) -> Command:
        batch = batches[task.runs[0].number]
        return Command((*command, "-m", *batch.arguments), str(directory), str(directory / batch.sweep_dir / LOG_NAME),
                       default_launcher.environment())

    return CommandWork(of)


def execute(session: Session, work: Any, batches: Sequence[Batch], directory: Path, max_parallel: Optional[int],
            on_slurm: bool, events: Events, job_name: str, timeout_min: Optional[float] = None,
            per_task: int = 1) -> List[BatchResult]:
    """Every batch through the session's local or Slurm executor; results in batch order (``timeout_min``:
    each local batch's time limit; ``per_task``: batches to a Slurm array task, see :func:`fit_to_site`).

    A stop signal raises :class:`Stopped` with what ran so far as its
    ``results`` (on Slurm nothing is cancelled: the batches go on there).
    """
    by_index = {b.index: b for b in batches}
    options = Options(max_parallel=max_parallel if on_slurm else max_parallel or 1, job_name=job_name,
                      timeout=timeout_min * 60 if timeout_min else None)
    results: Dict[int, BatchResult] = {}

    def finished(result: RunResult) -> None:
        batch = by_index[result.run.number]
        shown = manifests.relative_to(result.log, directory) or f"{batch.sweep_dir}/{LOG_NAME}"
        done = BatchResult(batch.index, batch.name, result.state, result.returncode, result.duration,
                           shown, started_at=result.started, error=result.error)
        results[batch.index] = done
        events.finished(done)

    def ordered(missing: str) -> List[BatchResult]:
        return [results.get(b.index) or BatchResult(b.index, b.name, missing, None, 0.0, None) for b in batches]

    def started(task: Task) -> None:
        for run in task.runs:
            events.started(by_index[run.number])

    try:
        session.dispatch("slurm" if on_slurm else "local", work, options,
                         batch_tasks(batches, per_task if on_slurm else 1), finished, on_start=started)
    except Stopped as stop:
        left = session.executor is not None and session.executor.left_running
        raise Stopped(stop.signum, ordered("on Slurm" if left else NOT_STARTED), left_running=left) from None
    return ordered(NOT_STARTED)


def run_job(plan: Plan, command: Sequence[str], directory: Path, max_parallel: Optional[int], events: Events,
            on_slurm: bool = False, function: Optional[Callable] = None, per_task: int = 1,
            resume: bool = False) -> List[BatchResult]:
    """A job's batches: ``run`` (a command per batch, here or on Slurm) or ``call`` (``function``, here);
    ``resume``: into the run directory of an earlier run (``--resume``), as a new attempt of it."""
    session = Session(directory / plan.run_dir, replay=False, resume=resume)
    session.open({"kind": "run", "argv": sys.argv, "max_parallel": max_parallel,
                  **({"backend": "slurm"} if on_slurm else {})},
                 lambda: job_header(plan, directory, command, max_parallel))
    session.add_plan(plan_records(plan.batches))
    batches = {b.index: b for b in plan.batches}
    try:
        if function is None:
            return execute(session, batch_command(command, directory, batches), plan.batches, directory,
                           max_parallel, on_slurm, events, plan.job.name, plan.job.timeout_min, per_task)
        work: Any = FunctionWork(CallFunction(function, command[0], directory, batches, plan.job.lead))
        previous = os.getcwd()
        os.chdir(directory)
        try:
            return execute(session, work, plan.batches, directory, 1, False, events, plan.job.name)
        finally:
            os.chdir(previous)
    finally:
        session.close()


def submit(plan: Plan, directory: Path) -> int:
    """Write the batches file and run the submit command once (placeholders filled in)."""
    path = Path(plan.run_dir) / "batches.txt"
    (directory / path).write_text(batches_file_text(plan))
    try:
        # The batches it runs get the hydraflow launcher where the variable reaches them (README: submit).
        process = subprocess.Popen(submit_command(plan), cwd=directory, start_new_session=True,
                                   env={**os.environ, **default_launcher.environment()})
    except OSError as error:
        raise UsageError(f"{plan.job.where}: jobs.{plan.job.name}.submit: cannot start the command: "
                         f"{os_error_text(error)}") from None
    with stop_signals():
        try:
            return stops.wait_process(process)
        except Stopped:
            stops.stop_child(process)  # the submit command gets Ctrl-C, whatever stopped us
            raise
