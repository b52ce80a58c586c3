"""``hydraflow run JOB`` on Slurm: a job's batches as tasks of job arrays (one array per step).

A job (or one of its steps) with a ``slurm:`` mapping sends each batch
command to Slurm instead of running it here: the batches of one step go out
together as one job array (split at ``MaxArraySize``) with ``max_parallel`` as
its ``%N``, each with the step's settings merged over the job's, so a sweep's
big models can ask for more than its small ones. On the node, each array task
runs its batch command into the batch's log and records the batch's start and
end in the run directory's manifest, so ``hydraflow status``, ``retry`` and
``cancel`` work on the run directory as on a sweep.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import submitit  # heavy: imported only for a job that goes to Slurm

from hydraflow_core import manifest
from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.slurm.arrays import _keep_script, max_array_size, submitit_parameters, wait_seconds
from hydraflow_core.manifest import EventLog, append, json_line
from hydraflow_core.plan.batches import Batch
from hydraflow_core.plan import chunks
from hydraflow_core.executors.slurm.query import ENDED_STATES, sacct_states

LOG_NAME = "hydraflow.log"


class BatchNodeTask(submitit.helpers.Checkpointable):
    """One array task on the node: run batch ``index`` of the spec, record it, exit with its code."""

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def __call__(self, index: int) -> int:
        spec = json.loads(Path(self.spec).read_text())
        entry = spec["batches"][index]
        job_id, ids = manifest.slurm_ids()
        events = EventLog(spec["run_dir"], spec["attempt"], job_id=job_id, details=ids)
        state = manifest.read(spec["run_dir"])
        if any(r.number == entry["run"] and r.state == manifest.COMPLETED for r in state.runs):
            return 0  # requeued after it had completed
        Path(entry["log"]).parent.mkdir(parents=True, exist_ok=True)
        events.started(entry["run"], log=entry["log"])
        with open(entry["log"], "ab") as log:
            code = subprocess.call(entry["argv"], cwd=entry["cwd"], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        state_name = manifest.COMPLETED if code == 0 else manifest.FAILED
        events.ended(entry["run"], state_name, None if code == 0 else f"exit code {code}", returncode=code)
        return code

    def checkpoint(self, index: int) -> Any:
        return submitit.helpers.DelayedSubmission(self, index)


def settings_of(batch: Batch, max_parallel: int) -> Dict[str, Any]:
    settings = dict(batch.slurm)
    settings.setdefault("array_parallelism", max_parallel)
    return settings


def submit_batches(batches: Sequence[Batch], command: Sequence[str], directory: Path, run_dir: Path,
                   attempt: int, job_name: str, max_parallel: int) -> List[Dict[str, Any]]:
    """The batches of each step (same settings) as arrays; the arrays' records, as in slurm.jsonl."""
    folder = str(run_dir / ".submitit" / "%j")
    directory_m = manifest.manifest_dir(run_dir)
    (directory_m / "slurm").mkdir(parents=True, exist_ok=True)
    groups: Dict[str, List[Batch]] = {}
    for batch in batches:
        groups.setdefault(json.dumps(settings_of(batch, max_parallel), sort_keys=True), []).append(batch)
    size = None
    records = []
    for key, members in groups.items():
        settings = json.loads(key)
        size = size or int(settings.get("max_array_size") or max_array_size())
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=int(settings.get("max_num_timeout") or 0))
        executor.update_parameters(**submitit_parameters(settings, job_name))
        for chunk in chunks(members, max(1, size)):
            index = len(records)
            spec = directory_m / "slurm" / f"batches-{attempt}-{index}.json"
            spec.write_text(json.dumps({"run_dir": str(run_dir), "attempt": attempt, "batches": [
                {"run": b.index, "argv": [*command, "-m", *b.arguments], "cwd": str(directory),
                 "log": str(directory / b.sweep_dir / LOG_NAME)} for b in chunk]}) + "\n")
            jobs = executor.map_array(BatchNodeTask(str(spec)), list(range(len(chunk))))
            job_id = jobs[0].job_id.split("_")[0]
            script = _keep_script(folder, job_id, directory_m / "slurm" / f"array-{attempt}-{index}.sh")
            record = {"attempt": attempt, "index": index, "job_id": job_id, "tasks": len(chunk), "script": script,
                      "settings": settings, "tasks_runs": [[b.index] for b in chunk]}
            append(directory_m / "slurm.jsonl", json_line(record))
            records.append(record)
    return records


def wait_batches(records: List[Dict[str, Any]], run_dir: Path, attempt: int) -> Iterator[Dict[str, Any]]:
    """Each batch's outcome as it ends: its end record, or its task's Slurm end state."""
    task_of = {runs[0]: f"{r['job_id']}_{i}" for r in records for i, runs in enumerate(r["tasks_runs"])}
    left = set(task_of)
    ended_at: Dict[str, float] = {}
    started = time.monotonic()
    while left:
        stops.check()
        state = manifest.read(run_dir)
        by_number = {r.number: r for r in state.runs}
        states = sacct_states(r["job_id"] for r in records) or {}
        for number in sorted(left):
            record, job = by_number.get(number), task_of[number]
            if record is not None and record.state in manifest.ENDED and (record.attempt or 0) >= attempt:
                left.discard(number)
                yield {"run": number, "state": record.state, "error": record.error, "job_id": job,
                       "returncode": record.extra.get("returncode"), "started": record.started,
                       "ended": record.ended}
            elif states.get(job) in ENDED_STATES:
                first = ended_at.setdefault(job, time.monotonic())
                if time.monotonic() - first >= 3:
                    left.discard(number)
                    yield {"run": number, "state": manifest.FAILED, "job_id": job, "returncode": None,
                           "error": f"the Slurm task {job} ended ({states[job]}) before the batch ended",
                           "started": None, "ended": None}
        if left:
            stops.sleep(wait_seconds(time.monotonic() - started))


def dry_run_text(batches: Sequence[Batch], command: Sequence[str], max_parallel: int, job_name: str,
                 run_dir: str = "<run dir>") -> str:
    """The Slurm settings of each array, its sbatch script, and the batch commands it runs."""
    from hydraflow_core.jobs.shell import join as shell_join

    groups: Dict[str, List[Batch]] = {}
    for batch in batches:
        groups.setdefault(json.dumps(settings_of(batch, max_parallel), sort_keys=True), []).append(batch)
    out = []
    for number, (key, members) in enumerate(groups.items()):
        settings = json.loads(key)
        out.append(f"# slurm array {number}: {len(members)} task(s), settings {json.dumps(settings, sort_keys=True)}")
        script = _sbatch_preview(settings, job_name, len(members), run_dir)
        if script:
            out.append("# sbatch script:")
            out.extend(f"#   {line}" for line in script.splitlines() if line.strip())
        for i, batch in enumerate(members):
            out.append(f"# task {i}: " + shell_join([*command, "-m", *batch.arguments]))
    return "\n".join(out) + "\n"


def _sbatch_preview(settings: Dict[str, Any], job_name: str, tasks: int, run_dir: str) -> Optional[str]:
    """The sbatch script submitit will write (its own function, private: a preview only, so guarded)."""
    try:
        from submitit.slurm.slurm import _make_sbatch_string

        params = submitit_parameters(settings, job_name)
        folder = f"{run_dir}/.submitit/%j"
        return _make_sbatch_string(command=f"{sys.executable} -u -m submitit.core._submit {folder}",
                                   folder=folder, map_count=tasks, **params)
    except Exception:  # submitit moved it: the settings above say what matters
        return None
