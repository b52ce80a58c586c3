"""``hydra.launcher.start=exec``: each task in a fresh interpreter, through the replay path.

For apps that initialise CUDA or start threads before the sweep, where a
forked worker breaks ("CUDA does not support the fork() system call"): each
task is the app started again as it was started, with ``HYDRAFLOW_REPLAY``
naming the task's runs -- the same path a Slurm array task takes on its node.
The child records its runs in the manifest; this process reads that child's
events file when it ends, and a run the child did not end is failed with the
child's exit status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Tuple

from hydra.core.utils import JobReturn

from hydraflow_core import manifest
from hydraflow_core.manifest import replay
from hydraflow_core.executors import CommandRunner, LocalExecutor
from hydraflow_core.plan import Task

from ._local import failed_return, job_return_from_record


def run_exec(launcher: Any, tasks: Iterable[Task], events: Any) -> Iterator[Tuple[int, JobReturn]]:
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir)).absolute()
    header = json.loads((manifest.manifest_dir(sweep_dir) / "manifest.json").read_text())
    argv, cwd = replay.replay_command(header, ["hydra.launcher.max_parallel=1", "hydra.launcher.start=fork",
                                               "hydra.launcher.backend=local"])
    folder = manifest.manifest_dir(sweep_dir) / "exec"
    folder.mkdir(parents=True, exist_ok=True)
    attempt = events.attempt
    by_first: Dict[int, Task] = {}

    def spec(task: Task) -> Tuple[List[str], str, str, Dict[str, str]]:
        path = folder / f"replay-{attempt}-{task.index}.json"
        path.write_text(json.dumps({"sweep_dir": str(sweep_dir), "reason": "task", "attempt": attempt,
                                    "tasks": [list(task.numbers)]}) + "\n")
        by_first[task.runs[0].number] = task
        return argv, cwd, str(folder / f"task-{attempt}-{task.index}.log"), {replay.ENV: str(path),
                                                                              replay.TASK_ENV: "0"}

    executor = LocalExecutor(commands=CommandRunner(spec), max_parallel=launcher.max_parallel, gpus=launcher.gpus)
    launcher.executor = executor
    for result in executor.stream(tasks):
        task = by_first.pop(result.run.number)
        pid = int(result.job_id.split(":")[1]) if result.job_id and ":" in result.job_id else None
        ended = manifest.EventLog(sweep_dir, attempt).ends_of(pid) if pid is not None else {}
        for run in task.runs:
            record = ended.get(run.number)
            if record is not None:
                ret = job_return_from_record(run.overrides, record.get("state", manifest.FAILED), record.get("error"),
                                             record.get("log"), record.get("output_dir"), record.get("return_value"))
            else:
                why = result.error or result.state
                ret = failed_return(run.overrides, f"the worker process ended ({why}) before run #{run.number} "
                                                   f"ended; its output: {result.log}", result.log)
                if result.state == manifest.INTERRUPTED:
                    ret.interrupted = True
            yield run.number, ret
