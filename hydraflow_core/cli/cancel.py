"""``hydraflow cancel DIR``: stop what of a sweep has not ended, and say so in its manifest."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from hydraflow_core import manifest
from hydraflow_core.errors import UsageError
from hydraflow_core.executors.slurm.query import ENDED_STATES, sacct_states, squeue_states, task_of_runs


def cancel(directory: Path) -> int:
    state = manifest.read(directory)
    record = manifest.Manifest(directory)
    tasks = task_of_runs(directory)
    done = []
    if tasks:
        unfinished = {r.number for r in state.runs if r.state not in manifest.ENDED}
        arrays = sorted({tasks[n].split("_")[0] for n in unfinished if n in tasks})
        states = sacct_states(arrays)
        if states is None:
            states = {job: "PENDING" for job in (squeue_states(arrays) or {})}
        live = [a for a in arrays if any(job.split("_")[0] == a and s not in ENDED_STATES for job, s in states.items())]
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
