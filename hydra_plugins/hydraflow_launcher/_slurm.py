"""The slurm backend of the hydraflow launcher: submit the run plan's tasks as arrays, then wait.

While waiting, the runs' states come from the manifest (each array task
records its runs as it goes) and from one ``sacct`` call per poll for every
array of the sweep, never one per run: a task that Slurm says has ended while
some of its runs have no end record fails those runs, with the task's state
(CANCELLED, TIMEOUT, OUT_OF_MEMORY, ...) as the reason.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Tuple

from hydra.core.utils import JobReturn

from hydraflow_core import manifest
from hydraflow_core.manifest import replay
from hydraflow_core.executors import stop as stops
from hydraflow_core.plan import Task

from ._local import failed_return, job_return_from_record

log = logging.getLogger(__name__)

#: Seconds a task may be over in Slurm's eyes before its runs without an end record count as failed
#: (the records of its last run may trail sacct a little on a shared filesystem).
SETTLE_SECONDS = 3.0


def run_on_slurm(launcher: Any, tasks: Iterable[Task], total: int, events: Any) -> Iterator[Tuple[int, JobReturn]]:
    from hydraflow_core.executors import slurm

    tasks = list(tasks)  # the sweeper records their plan as they are pulled: all of it, before submitting
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir)).absolute()
    header = json.loads((manifest.manifest_dir(sweep_dir) / "manifest.json").read_text())
    argv, cwd = replay.replay_command(header, ["hydra.launcher.backend=local", "hydra.launcher.max_parallel=1"])
    settings = dict(launcher.slurm)
    folder = str(settings.get("submitit_folder") or f"{sweep_dir}/.submitit/%j")
    job_name = str(settings.get("job_name") or launcher.config.hydra.job.name)
    attempt = events.attempt if events is not None else 1
    arrays = slurm.submit(tasks, argv, cwd, sweep_dir, folder, settings, job_name, attempt)
    launcher.arrays = arrays
    ids = ", ".join(a.job_id for a in arrays)
    log.info(f"hydraflow: {total} runs as {len(tasks)} Slurm array tasks in {len(arrays)} array(s): {ids}")
    for array in arrays:
        if array.script:
            log.info(f"hydraflow: sbatch script of array {array.job_id}: {array.script}")
    if not launcher.wait:
        launcher.submitted_only = True
        return
    yield from _wait(tasks, arrays, sweep_dir, attempt)


def _wait(tasks: List[Task], arrays: List[Any], sweep_dir: Path, attempt: int) -> Iterator[Tuple[int, JobReturn]]:
    """Every run's result as it ends; only records of this ``attempt`` count (a retry's runs ended before)."""
    from hydraflow_core.executors import slurm

    task_job: Dict[int, str] = {}
    for array in arrays:
        for i in range(array.tasks):
            task_job[array.first_task + i] = f"{array.job_id}_{i}"
    run_task = {run.number: position for position, task in enumerate(tasks) for run in task.runs}
    left = set(run_task)
    ended_at: Dict[str, float] = {}
    started = time.monotonic()
    shown = None
    while left:
        stops.check()
        state = manifest.read(sweep_dir)
        records = {r.number: r for r in state.runs}
        states = slurm.sacct_states(a.job_id for a in arrays) or {}
        for number in sorted(left):
            record = records.get(number)
            job = task_job[run_task[number]]
            slurm_state = states.get(job, "")
            if (record is not None and record.state in (manifest.COMPLETED, manifest.FAILED)
                    and (record.attempt or 0) >= attempt):
                left.discard(number)
                result = job_return_from_record(record.overrides, record.state, record.error, record.log,
                                                record.output_dir, record.extra.get("return_value"))
                result.job_id = record.job_id or job
                yield number, result
                continue
            if slurm_state in slurm.ENDED_STATES:
                first = ended_at.setdefault(job, time.monotonic())
                if time.monotonic() - first >= SETTLE_SECONDS:
                    left.discard(number)
                    error = f"the Slurm task {job} ended ({slurm_state}) before run #{number} ended"
                    with_log = record.log if record is not None else None
                    result = failed_return(record.overrides if record else [], error, with_log)
                    result.job_id = job
                    yield number, result
        counts = _counts(states, task_job)
        if counts != shown:
            shown = counts
            log.info("hydraflow: slurm tasks: " + ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
                     + f"; runs ended: {len(run_task) - len(left)} of {len(run_task)}")
        if left:
            stops.sleep(slurm.wait_seconds(time.monotonic() - started))


def _counts(states: Dict[str, str], task_job: Dict[int, str]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for job in task_job.values():
        state = states.get(job, "PENDING")
        out[state] = out.get(state, 0) + 1
    return dict(sorted(out.items()))
