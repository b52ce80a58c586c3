"""The launcher owns the manifest: behind Hydra's basic sweeper and behind Optuna, as behind its own.

Real hydra-core, real hydra-optuna-sweeper (a test dependency), the example
app in subprocesses: the sweep is recorded, `hydraflow status` lists every
run, a sweep killed half way is completed by `hydraflow retry` with every
run executed exactly once, and `start=exec` runs each run in a fresh
interpreter behind the basic sweeper too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_example_app
from test_never_lose import assert_each_dir_holds_one_run, completed_ends, hydraflow, results, status_json, wait_for

pytestmark = pytest.mark.slow

PYTHON = sys.executable
BASIC = ["hydra/sweeper=basic", "seed=0,1,2,3,4,5"]
OPTUNA = ["hydra/sweeper=optuna", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=3", "seed=range(0,100)",
          "hydra.sweeper.sampler.seed=7"]


@pytest.fixture
def app(tmp_path):
    return copy_example_app(tmp_path)


def run_app(app: Path, *overrides: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "train.py", "-m", "hydra/launcher=hydraflow", f"hydra.sweep.dir={app / 'sweep'}",
                           *overrides], cwd=app, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("sweeper", [pytest.param(BASIC, id="basic"), pytest.param(OPTUNA, id="optuna")])
@pytest.mark.parametrize("parallel", [pytest.param([], id="in-process"),
                                      pytest.param(["hydra.launcher.max_parallel=2"], id="two-workers")])
def test_every_run_of_another_sweeper_is_recorded(app, sweeper, parallel):
    result = run_app(app, *sweeper, *parallel)
    assert result.returncode == 0, result.stderr
    state = status_json(app, "sweep")
    assert state["returncode"] == 0 and state["counts"] == {"completed": 6}, state["counts"]
    recorded = {r["number"]: r for r in state["runs"]}
    ran = results(app / "sweep")
    assert sorted(recorded) == sorted(ran) == list(range(6))
    for number, run in recorded.items():  # the manifest names each run's own overrides and output
        assert f"seed={ran[number]['cfg']['seed']}" in run["overrides"]
        assert Path(run["output_dir"]) == (app / "sweep" / str(number)).absolute()
    assert completed_ends(app / "sweep") == {n: 1 for n in range(6)}


@pytest.mark.parametrize("sweeper", [pytest.param(BASIC, id="basic"), pytest.param(OPTUNA, id="optuna")])
def test_a_killed_sweep_behind_another_sweeper_is_completed_by_retry(app, sweeper):
    process = subprocess.Popen(
        [PYTHON, "train.py", "-m", "hydra/launcher=hydraflow", f"hydra.sweep.dir={app / 'sweep'}", *sweeper,
         "sleep=0.5", "hydra.launcher.max_parallel=2"], cwd=app, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    wait_for(lambda: len(results(app / "sweep")) >= 2, "2 result.json files", process=process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = status_json(app, "sweep")
    assert before["returncode"] != 0 and before["counts"].get("completed", 0) >= 2, before["counts"]
    planned = len(before["runs"])
    seeds = {r["number"]: int(r["overrides"][0].split("=")[1]) for r in before["runs"]}

    retried = hydraflow(app, "retry", "sweep")
    assert retried.returncode == 0, retried.output
    after = status_json(app, "sweep")
    assert after["returncode"] == 0 and after["counts"] == {"completed": planned}, after["counts"]
    assert_each_dir_holds_one_run(app / "sweep", planned, seeds)


def test_start_exec_behind_the_basic_sweeper_runs_each_run_in_a_fresh_interpreter(app):
    result = run_app(app, *BASIC, "hydra.launcher.start=exec", "hydra.launcher.max_parallel=2")
    assert result.returncode == 0, result.stderr
    ran = results(app / "sweep")
    pids = {r["pid"] for r in ran.values()}
    assert len(ran) == 6 and len(pids) == 6, pids  # one interpreter per run (runs_per_task=1)
    logs = sorted((app / "sweep" / ".hydraflow" / "exec").glob("task-1-*.log"))
    assert len(logs) == 6
    assert status_json(app, "sweep")["counts"] == {"completed": 6}


def test_a_failing_run_behind_the_basic_sweeper_is_recorded_and_retried(app):
    result = run_app(app, "hydra/sweeper=basic", "seed=0,1,2", "fail=false")
    assert result.returncode == 0, result.stderr
    broken = subprocess.run([PYTHON, "train.py", "-m", "hydra/launcher=hydraflow", f"hydra.sweep.dir={app / 'b'}",
                             "hydra/sweeper=basic", "seed=0,1,2", "fail=false,true"], cwd=app, capture_output=True,
                            text=True, timeout=180)
    assert broken.returncode == 1  # Hydra's basic sweeper raises the first failure, as with its own launcher
    state = status_json(app, "b")
    assert state["counts"] == {"completed": 3, "failed": 3}, state["counts"]
    failed = sorted(r["number"] for r in state["runs"] if r["state"] == "failed")
    assert failed == [1, 3, 5]
    retried = hydraflow(app, "retry", "b", "--failed")
    assert retried.returncode == 1 and "retrying 3 of 6 runs" in retried.output, retried.output
    again = [json.loads(line) for path in (app / "b" / ".hydraflow" / "events").glob("2-*") for line in
             path.read_text().splitlines()]
    assert sorted({e["run"] for e in again}) == failed
