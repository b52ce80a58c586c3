"""One Slurm engine behind any sweeper, and its faults, on the real local cluster.

Behind Hydra's basic sweeper; `max_parallel` as the arrays' %N; pending tasks
cancelled with scancel; a failing run's task FAILED in sacct; a one-task
submission cancelled (no hang); a retry of a single run; two retries at once;
a partition Slurm refuses; a time limit shorter than the signal delay.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import copy_example_app
from slurm.conftest import sacct_rows

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))


@pytest.fixture
def app(tmp_path, slurm_cluster):
    return copy_example_app(tmp_path)


def command(app: Path, *overrides: str) -> list:
    return [sys.executable, "train.py", "-m", "hydra/launcher=hydraflow_slurm", f"hydra.sweep.dir={app / 'sweep'}",
            *overrides]


def sweep(app: Path, *overrides: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(command(app, *overrides), cwd=app, capture_output=True, text=True, timeout=timeout)


def hydraflow(app: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    result = subprocess.run([HYDRAFLOW, *args], cwd=app, capture_output=True, text=True, timeout=timeout)
    result.output = result.stdout + result.stderr
    return result


def status(app: Path) -> dict:
    result = hydraflow(app, "status", "sweep", "--json")
    try:
        return {r["number"]: r for r in json.loads(result.stdout)["runs"]}
    except ValueError:
        raise AssertionError(f"status --json: {result.output}") from None


def arrays(app: Path) -> list:
    lines = (app / "sweep" / ".hydraflow" / "slurm.jsonl").read_text().splitlines()
    return [a for a in map(json.loads, lines) if "job_id" in a]


def wait_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_behind_the_basic_sweeper_with_max_parallel_1_no_two_runs_overlap(app):
    result = sweep(app, "hydra/sweeper=basic", "seed=0,1,2", "sleep=1", "hydra.launcher.max_parallel=1")
    assert result.returncode == 0, result.stderr
    (array,) = arrays(app)
    assert array["settings"]["array_parallelism"] == 1
    script = Path(array["script"]).read_text()
    assert "%1" in script, script
    runs = status(app)
    assert {r["state"] for r in runs.values()} == {"completed"} and len(runs) == 3
    spans = sorted((r["started"], r["ended"]) for r in runs.values())
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans


def test_a_failing_runs_task_is_failed_in_sacct_and_pending_tasks_scancelled_show_cancelled(app):
    result = sweep(app, "seed=0,1,2", "fail=true,false", "sleep=15", "hydra.launcher.max_parallel=1",
                   "hydra.launcher.wait=false")
    assert result.returncode == 0, result.stderr
    (array,) = arrays(app)
    tasks = array["task_ids"]
    wait_until(lambda: status(app)[0]["state"] != "pending", "the first task to start")
    subprocess.run(["scancel", *tasks[1:]], check=True)
    wait_until(lambda: status(app)[0]["state"] in ("failed", "completed"), "the first run to end", timeout=90)
    rows = dict(sacct_rows(tasks[0], count=1))
    assert rows[tasks[0]] == "FAILED", rows  # the task of a failing run is FAILED in Slurm's own accounting
    runs = status(app)
    assert runs[0]["state"] == "failed"
    assert {runs[n]["state"] for n in range(1, 6)} == {"cancelled"}, {n: runs[n]["state"] for n in runs}


def test_a_one_run_sweep_cancelled_ends_the_launcher_and_its_retry_completes(app):
    process = subprocess.Popen(command(app, "seed=3", "sleep=10"), cwd=app, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    wait_until(lambda: (app / "sweep" / ".hydraflow" / "slurm.jsonl").exists() and arrays(app), "the submission")
    (array,) = arrays(app)
    assert array["task_ids"] == [array["job_id"]]  # submitit sends one task as a plain job
    subprocess.run(["scancel", array["job_id"]], check=True)
    out, _ = process.communicate(timeout=60)  # never an endless "1 pending"
    assert process.returncode == 1, out
    assert "cancelled" in out.lower() or "CANCELLED" in out, out
    assert status(app)[0]["state"] == "cancelled"
    retried = hydraflow(app, "retry", "sweep")
    assert retried.returncode == 0 and "retrying 1 of 1 runs" in retried.output, retried.output
    assert status(app)[0]["state"] == "completed"


def test_two_retries_at_once_one_runs_the_other_refuses(app):
    result = sweep(app, "seed=0:3", "fail=true", "sleep=1")
    assert result.returncode == 1
    first = subprocess.Popen([HYDRAFLOW, "retry", "sweep"], cwd=app, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    wait_until(lambda: (app / "sweep" / ".hydraflow" / "claim.json").exists(), "the first retry's claim")
    second = hydraflow(app, "retry", "sweep")
    first_out, _ = first.communicate(timeout=240)
    assert second.returncode == 2, second.output
    # Refused by the claim, or (once the first retry's app recorded its attempt) as a live sweep: both name the pid.
    assert ("being launched into by pid" in second.output or "is still running (pid" in second.output), second.output
    assert "Traceback" not in second.output
    starts = {}
    for path in (app / "sweep" / ".hydraflow" / "events").iterdir():
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == "start":
                starts[event["run"]] = starts.get(event["run"], 0) + 1
    assert starts == {n: 2 for n in range(4)}, (starts, first_out)  # the sweep, then exactly one retry


def test_a_partition_slurm_refuses_is_one_line_and_exit_2(app):
    result = sweep(app, "seed=0,1", "hydra.launcher.slurm.partition=nosuch")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (said,) = [line for line in result.stderr.splitlines() if line.startswith("hydraflow: error:")]
    assert "nosuch" in said and "hydra.launcher.slurm.partition" in said
    assert {r["state"] for r in status(app).values()} == {"planned"}  # never submitted
    note = hydraflow(app, "status", "sweep")
    assert "Slurm refused attempt 1" in note.output


def test_a_time_limit_below_the_signal_delay_is_named_and_the_run_times_out(app):
    result = sweep(app, "seed=0", "sleep=100", "hydra.launcher.slurm.timeout_min=1", timeout=300)
    assert result.returncode == 1
    assert "signal_delay_s=120 is not below the time limit" in result.stdout + result.stderr
    (run,) = status(app).values()
    assert run["state"] == "timed out", run
