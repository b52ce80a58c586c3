"""The launcher's plan before anything runs, and what it does after a failure; real Hydra, the example app.

- ``hydra.launcher.dry_run=true`` composes every run and prints the plan
  (locally, or the Slurm arrays with their per-run resources and sbatch
  scripts: no cluster needed), creates nothing, runs nothing;
- a ``hydra.launcher.slurm.*`` field that interpolates the run's config is
  resolved per run, and a bad or missing value names the run and the field;
- ``max_retries`` runs a failed run again, in a new attempt of the manifest; so too a run that timed out, or
  was lost, or whose worker was killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAIL_ONCE, copy_example_app
from hydraflow_core.manifest import process_start
from test_never_lose import completed_ends, status_json

pytestmark = pytest.mark.slow

PYTHON = sys.executable
CPUS = ["+cpus=1,2", "seed=0,1", "hydra.launcher.slurm.cpus_per_task=${cpus}"]


@pytest.fixture
def app(tmp_path):
    return copy_example_app(tmp_path)


def run_app(app: Path, *overrides: str, launcher: str = "hydraflow", timeout: float = 180):
    return subprocess.run([PYTHON, "train.py", "-m", f"hydra/launcher={launcher}", f"hydra.sweep.dir={app / 'sweep'}",
                           *overrides], cwd=app, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("launcher, overrides, expected", [
    pytest.param("hydraflow", ["seed=0:2", "hydra.launcher.max_parallel=2"],
                 ["3 runs, locally, 2 at a time", "#0 seed=0 -> sweep/0", "#2 seed=2 -> sweep/2"], id="local"),
    pytest.param("hydraflow", ["hydra/sweeper=basic", "seed=0,1"],
                 ["2 runs, locally, 1 at a time", "#1 seed=1 -> sweep/1"], id="behind-basic"),
    pytest.param("hydraflow_slurm", CPUS,
                 ["4 runs in 4 task(s), 2 Slurm array(s); nothing is submitted or run",
                  "array 0: 2 task(s), %256, 1 run(s) per task;", "#SBATCH --cpus-per-task=1",
                  "#SBATCH --cpus-per-task=2", "#0 +cpus=1 seed=0 -> sweep/0", "#3 +cpus=2 seed=1 -> sweep/3"],
                 id="slurm-per-run-cpus"),
    pytest.param("hydraflow_slurm", ["seed=0:4", "hydra.launcher.runs_per_task=2",
                                     "hydra.launcher.slurm.max_array_size=2"],
                 ["5 runs in 3 task(s), 2 Slurm array(s)", "array 1: 1 task(s)", "2 run(s) per task",
                  "  task 1:\n    #2 seed=2"], id="slurm-split-and-packed"),
])
def test_a_dry_run_prints_the_plan_and_runs_nothing(app, launcher, overrides, expected):
    result = run_app(app, *overrides, "hydra.launcher.dry_run=true", launcher=launcher)
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout, result.stdout
    assert not list(app.glob("sweep/*/result.json")) and not (app / "sweep" / ".hydraflow").exists()


@pytest.mark.parametrize("overrides, expected", [
    pytest.param(["seed=0,1", "hydra.launcher.slurm.cpus_per_task=${nope}"],
                 "run #0 (seed=0): hydra.launcher.slurm.cpus_per_task=${nope} cannot be resolved: "
                 "Interpolation key 'nope' not found", id="missing-key"),
    pytest.param(["+cpus=1,x", "seed=0", "hydra.launcher.slurm.cpus_per_task=${cpus}"],
                 "run #1 (+cpus=x seed=0): hydra.launcher.slurm.cpus_per_task must be a whole number of at "
                 "least 1, not 'x'", id="bad-value"),
    pytest.param(["+mem=2,-1", "seed=0", "hydra.launcher.slurm.mem_gb=${mem}"],
                 "run #1 (+mem=-1 seed=0): hydra.launcher.slurm.mem_gb must be a positive number", id="bad-memory"),
])
@pytest.mark.parametrize("dry", [pytest.param(True, id="dry"), pytest.param(False, id="submitting")])
def test_a_bad_per_run_resource_names_the_run_and_the_field(app, overrides, expected, dry):
    result = run_app(app, *overrides, f"hydra.launcher.dry_run={str(dry).lower()}", launcher="hydraflow_slurm")
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not list(app.glob("sweep/*/result.json")) and not (app / "sweep" / ".hydraflow" / "slurm.jsonl").exists()


def test_a_dry_run_lists_the_runs_that_cannot_be_composed(app):
    result = run_app(app, "model=small,nosuch", "hydra.launcher.dry_run=true")
    assert result.returncode == 2
    assert "dry run: 1 of 2 runs cannot be planned" in result.stderr
    assert "run #1 (model=nosuch) cannot be composed" in result.stderr, result.stderr


def test_a_dry_run_behind_optuna_which_reads_results_is_refused(app):
    result = run_app(app, "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2", "seed=range(0,10)",
                     "hydra.launcher.dry_run=true")
    assert result.returncode != 0 and "dry_run=true needs a sweeper that does not read the runs' results" in \
        result.stderr, result.stderr


@pytest.mark.parametrize("parallel", [pytest.param("1", id="in-process"), pytest.param("2", id="two-workers")])
@pytest.mark.parametrize("retries, times, completed, starts_of_1", [
    pytest.param(1, 1, 4, 2, id="fails-once-retried-once"),
    pytest.param(2, 1, 4, 2, id="never-run-again-once-completed"),
    pytest.param(1, 2, 3, 2, id="fails-twice-retried-once"),
    pytest.param(0, 1, 3, 1, id="no-retries"),
])
def test_max_retries_runs_a_failed_run_again_in_a_new_attempt(tmp_path, parallel, retries, times, completed,
                                                              starts_of_1):
    (tmp_path / "app.py").write_text(FAIL_ONCE)
    (tmp_path / "markers").mkdir()
    result = subprocess.run(
        [PYTHON, "app.py", "-m", "hydra/launcher=hydraflow", f"hydra.sweep.dir={tmp_path / 'sweep'}",
         "+seed=0:3", "+fail=[1]", f"+times={times}", f"hydra.launcher.max_retries={retries}",
         f"hydra.launcher.max_parallel={parallel}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**__import__("os").environ,
                                                                          "MARKERS": str(tmp_path / "markers")})
    assert (result.returncode == 0) == (completed == 4), result.stderr
    state = status_json(tmp_path, "sweep")
    assert state["counts"] == {"completed": completed, **({"failed": 4 - completed} if completed < 4 else {})}
    runs = {r["number"]: r for r in state["runs"]}
    assert runs[1]["starts"] == starts_of_1 and [runs[n]["starts"] for n in (0, 2, 3)] == [1, 1, 1]
    assert {n: int((tmp_path / "markers" / str(n)).read_text()) for n in range(4)} == {0: 1, 1: starts_of_1, 2: 1, 3: 1}
    assert completed_ends(tmp_path / "sweep") == {n: 1 for n in range(4) if n != 1 or completed == 4}
    attempts = [json.loads(line) for line in (tmp_path / "sweep/.hydraflow/attempts.jsonl").read_text().splitlines()]
    assert [(a["kind"], a.get("numbers")) for a in attempts] == \
        [("launch", None)] + [("retry", [1])] * (starts_of_1 - 1)
    if retries and starts_of_1 > 1:
        assert "running them again (retry 1 of" in result.stdout + result.stderr


#: An app whose run #1 takes 60 s (how=sleep) or SIGKILLs the process running it (how=kill) on its first try only.
ONCE_BAD = """
import os, pathlib, signal, time, hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    marker = pathlib.Path(os.environ["MARKERS"]) / f"{cfg.seed}"
    tries = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(tries))
    if cfg.seed == 1 and tries == 1:
        if cfg.how == "sleep":
            time.sleep(60)
        if cfg.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    return cfg.seed

if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("how, settings, first_end", [
    pytest.param("sleep", ["hydra.launcher.timeout_min=0.02"], ("end", "timed out", "timed out after 0.02 min"),
                 id="timed-out"),
    pytest.param("kill", ["hydra.launcher.max_parallel=2"],
                 ("ended_by_launcher", "failed", "the worker running #1 died (killed by SIGKILL)"),
                 id="its-worker-killed"),
    # A start: exec interpreter killed leaves the run started, without an end record, its process gone: lost.
    pytest.param("kill", ["hydra.launcher.max_parallel=2", "hydra.launcher.start=exec"], None, id="lost"),
])
def test_max_retries_runs_again_a_run_that_timed_out_or_was_lost(tmp_path, how, settings, first_end):
    (tmp_path / "app.py").write_text(ONCE_BAD)
    (tmp_path / "markers").mkdir()
    result = subprocess.run(
        [PYTHON, "app.py", "-m", "hydra/launcher=hydraflow", f"hydra.sweep.dir={tmp_path / 'sweep'}", "+seed=0:2",
         f"+how={how}", "hydra.launcher.max_retries=1", *settings],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "MARKERS": str(tmp_path / "markers")})
    assert result.returncode == 0, result.stderr
    state = status_json(tmp_path, "sweep")
    assert state["counts"] == {"completed": 3}
    assert {r["number"]: (r["starts"], r["attempt"]) for r in state["runs"]} == {0: (1, 1), 1: (2, 2), 2: (1, 1)}
    assert {n: int((tmp_path / "markers" / str(n)).read_text()) for n in range(3)} == {0: 1, 1: 2, 2: 1}
    attempts = [json.loads(line) for line in (tmp_path / "sweep/.hydraflow/attempts.jsonl").read_text().splitlines()]
    assert [(a["kind"], a.get("numbers"), a.get("auto")) for a in attempts] == [("launch", None, None),
                                                                               ("retry", [1], True)]
    # How #1's first attempt ended, as recorded.
    events = [json.loads(line) for path in (tmp_path / "sweep/.hydraflow/events").iterdir()
              for line in path.read_text().splitlines()]
    first = [e for e in events if e["run"] == 1 and e["attempt"] == 1]
    assert [e["event"] for e in first if e["event"] != "start"] == ([first_end[0]] if first_end else [])
    if first_end:
        (end,) = [e for e in first if e["event"] != "start"]
        assert (end["state"], end["error"]) == first_end[1:]
    else:  # its start only, by a process that is gone (not the launcher)
        (start,) = first
        assert start["pid"] != attempts[0]["pid"] and process_start(start["pid"]) is None
