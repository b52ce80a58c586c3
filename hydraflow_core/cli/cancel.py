"""``hydraflow cancel DIR``: stop what of a sweep has not ended, and say so in its manifest."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from hydraflow_core import manifest
from hydraflow_core.errors import UsageError
from hydraflow_core.executors.slurm.query import (
    ENDED_STATES, GONE, UNLISTED, attempt_of_runs, task_of_runs, task_states,
)


def cancel(directory: Path) -> int:
    state = manifest.read(directory)
    record = manifest.Manifest(directory)
    tasks = task_of_runs(directory)
    done = []
    if tasks:
        submitted = attempt_of_runs(directory)  # a run a later attempt submitted again is unfinished there
        unfinished = {tasks[r.number] for r in state.runs if r.number in tasks and (
            r.state not in manifest.ENDED or (r.attempt is not None and r.attempt < submitted.get(r.number, 0)))}
        states = task_states(unfinished) or {task: "PENDING" for task in unfinished}
        over = (*ENDED_STATES, GONE, UNLISTED)
        live = sorted({task.split("_")[0] for task in unfinished if states.get(task, "PENDING") not in over})
        for array in live:  # one scancel per array
            result = subprocess.run(["scancel", array], capture_output=True, text=True)
            if result.returncode != 0:
                raise UsageError(f"scancel {array} failed: {result.stderr.strip()}")
            done.append(array)
    if state.launcher_alive:  # a local sweep: stop its launcher, which stops its workers and records them
        last = state.attempts[-1]
        os.kill(int(last["pid"]), signal.SIGTERM)
        done.append(f"launcher pid {last['pid']}")
    if not done:
        print(f"hydraflow: nothing to cancel in {directory}: no run is pending or running")
        return 0
    record.begin_attempt({"kind": "cancel", "cancelled": done})
    print(f"hydraflow: cancelled {', '.join(done)}; `hydraflow status {directory}` shows each run, "
          f"`hydraflow retry {directory}` runs again what did not complete")
    return 0
