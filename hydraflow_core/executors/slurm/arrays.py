"""The Slurm executor: tasks of a run plan as Slurm job arrays, through submitit.

Each task becomes one array task. What is pickled is only :class:`NodeTask`
-- a command line, a working directory and two environment variables --
never the user's task function or config: on the node, the task starts the
user's app again as it was started (same Python, script, overrides and
working directory, after the ``setup`` lines), with ``HYDRAFLOW_REPLAY``
naming the array's runs and ``HYDRAFLOW_REPLAY_TASK`` its own task, so the
hydraflow sweeper there runs exactly that task's runs in-process and records
each in the manifest. A task that times out or is preempted is requeued by
submitit (``max_num_timeout``) and runs again only its runs that had not
completed.

Arrays never exceed the cluster's ``MaxArraySize`` (read from ``scontrol show
config`` unless given): a larger sweep goes out as several arrays, each
indexed from 0. The sbatch script of each array is kept in the sweep's
``.hydraflow/slurm/`` directory, and ``.hydraflow/slurm.jsonl`` maps each
array to its job id and first task.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import submitit  # heavy; this module is imported only for the slurm backend

from hydraflow_core.manifest import append, json_line, manifest_dir
from hydraflow_core.executors.slurm.fields import FIELDS
from hydraflow_core.plan import Task, chunks

from hydraflow_core.executors.slurm.query import ENDED_STATES, arrays_of, sacct_states  # noqa: F401  (re-exported)


class NodeTask(submitit.helpers.Checkpointable):
    """What one array task runs: the app's replay command (a plain, picklable command line)."""

    def __init__(self, argv: Sequence[str], cwd: str, env: Dict[str, str]) -> None:
        self.argv, self.cwd, self.env = list(argv), cwd, dict(env)

    def __call__(self, index: int) -> int:
        env = {**os.environ, **self.env, "HYDRAFLOW_REPLAY_TASK": str(index)}
        return subprocess.call(self.argv, cwd=self.cwd, env=env)

    def checkpoint(self, index: int) -> Any:
        """Timed out or preempted: submitit requeues the same task; it runs its unfinished runs."""
        return submitit.helpers.DelayedSubmission(self, index)


def max_array_size() -> int:
    """The cluster's MaxArraySize (``scontrol show config``); Slurm's default 1001 if it cannot be read."""
    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return 1001
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, re.M)
    return int(match.group(1)) if match else 1001


def submitit_parameters(settings: Dict[str, Any], job_name: str) -> Dict[str, Any]:
    """hydra.launcher.slurm.* -> submitit SlurmExecutor.update_parameters keywords."""
    params: Dict[str, Any] = {"job_name": job_name}
    for name, value in settings.items():
        target = FIELDS[name][0]
        if target is None or value is None:
            continue
        if name == "mem_gb":
            value = f"{value}GB"
        if name in ("setup", "teardown", "srun_args") and isinstance(value, str):
            value = [value]
        params[target] = value
    return params


@dataclass
class Array:
    index: int  # 0.. within the sweep's submission
    job_id: str
    first_task: int  # position of its task 0 in the submitted task list
    tasks: int
    script: Optional[str]


def submit(tasks: List[Task], command: Sequence[str], cwd: str, sweep_dir: Path, folder: str,
           settings: Dict[str, Any], job_name: str, attempt: int) -> List[Array]:
    """Every task as array tasks: one ``sbatch`` per array of at most MaxArraySize tasks."""
    size = int(settings.get("max_array_size") or max_array_size())
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=int(settings.get("max_num_timeout") or 0))
    executor.update_parameters(**submitit_parameters(settings, job_name))
    directory = manifest_dir(sweep_dir)
    (directory / "slurm").mkdir(parents=True, exist_ok=True)
    arrays: List[Array] = []
    first = 0
    for index, chunk in enumerate(chunks(tasks, max(1, size))):
        spec = directory / "slurm" / f"replay-{attempt}-{index}.json"
        spec.write_text(json.dumps({"sweep_dir": str(sweep_dir), "reason": "task", "attempt": attempt,
                                    "tasks": [[r.number for r in t.runs] for t in chunk]}) + "\n")
        node = NodeTask(command, cwd, {"HYDRAFLOW_REPLAY": str(spec)})
        jobs = executor.map_array(node, list(range(len(chunk))))
        job_id = jobs[0].job_id.split("_")[0]
        script = _keep_script(folder, job_id, directory / "slurm" / f"array-{attempt}-{index}.sh")
        array = Array(index, job_id, first, len(chunk), script)
        append(directory / "slurm.jsonl", json_line({"attempt": attempt, **array.__dict__,
                                                   "tasks_runs": [list(t.numbers) for t in chunk]}))
        arrays.append(array)
        first += len(chunk)
    return arrays


def _keep_script(folder: str, job_id: str, target: Path) -> Optional[str]:
    """The array's sbatch script, copied where users look (submitit keeps it deep in its folder)."""
    try:
        source = submitit.core.utils.JobPaths(folder, job_id=job_id).submission_file
        shutil.copyfile(source, target)
        return str(target)
    except (OSError, AttributeError, ValueError):
        return None


def wait_seconds(elapsed: float) -> float:
    """Poll interval: quick at first, at most 5 s (one sacct call per poll, whatever the sweep's size)."""
    return min(5.0, 0.5 + elapsed / 20)
