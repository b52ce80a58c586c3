"""Issue 15 on the real local cluster: per-run resources, the dry run, max_retries, slurm.python."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import FAIL_ONCE, copy_example_app
from slurm.conftest import sacct_rows

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))


@pytest.fixture
def app(tmp_path, slurm_cluster):
    return copy_example_app(tmp_path)


def sweep(app: Path, *overrides: str, script: str = "train.py", env=None, timeout: float = 240):
    return subprocess.run([sys.executable, script, "-m", "hydra/launcher=hydraflow_slurm",
                           f"hydra.sweep.dir={app / 'sweep'}", *overrides],
                          cwd=app, capture_output=True, text=True, timeout=timeout, env=env)


def arrays(app: Path) -> list:
    lines = (app / "sweep" / ".hydraflow" / "slurm.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if "job_id" in json.loads(line)]


def test_runs_asking_different_cpus_go_out_as_one_array_each(app):
    name = f"dry-{uuid.uuid4().hex[:12]}"  # other tests submit meanwhile: only this name's jobs count
    cpus = ["+cpus=1,2", "seed=0,1", "hydra.launcher.slurm.cpus_per_task=${cpus}", f"hydra.launcher.slurm.job_name={name}"]
    dry = sweep(app, *cpus, "hydra.launcher.dry_run=true")
    assert dry.returncode == 0, dry.stderr
    assert "2 Slurm array(s)" in dry.stdout and dry.stdout.count("#SBATCH --cpus-per-task=") == 2
    assert not sacct_jobs(name) and not (app / "sweep").exists()  # the dry run submitted nothing

    result = sweep(app, *cpus)
    assert result.returncode == 0, result.stderr
    submitted = arrays(app)
    assert [(a["settings"]["cpus_per_task"], a["tasks_runs"]) for a in submitted] == [(1, [[0], [1]]), (2, [[2], [3]])]
    for array in submitted:
        rows = sacct_rows(array["job_id"], ("JobID", "State", "AllocCPUS"), count=2)
        assert {(state, cpus) for _, state, cpus in rows} == {("COMPLETED", str(array["settings"]["cpus_per_task"]))}
    assert len(sacct_jobs(name)) == 4  # the name is right: the real sweep's tasks are found by it


def sacct_jobs(name: str) -> set:
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-a", "-S", "now-1hours", "--name", name, "-o", "JobID"],
                         capture_output=True, text=True, timeout=30).stdout
    return set(out.split())


def test_a_run_that_fails_once_is_run_again_by_max_retries(app):
    (app / "once.py").write_text(FAIL_ONCE)
    (app / "markers").mkdir()
    env = {**os.environ, "MARKERS": str(app / "markers")}
    result = sweep(app, "+seed=0:2", "+fail=[1]", "+times=1", "hydra.launcher.max_retries=1", script="once.py",
                   env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    state = json.loads(subprocess.run([HYDRAFLOW, "status", str(app / "sweep"), "--json"], capture_output=True,
                                      text=True).stdout)
    assert state["counts"] == {"completed": 3}
    assert {r["number"]: r["starts"] for r in state["runs"]} == {0: 1, 1: 2, 2: 1}
    attempts = [json.loads(line) for line in (app / "sweep/.hydraflow/attempts.jsonl").read_text().splitlines()]
    assert [(a["kind"], a.get("numbers")) for a in attempts] == [("launch", None), ("retry", [1])]
    first, again = arrays(app)
    assert (first["attempt"], again["attempt"], again["tasks_runs"]) == (1, 2, [[1]])
    assert {state for _, state in sacct_rows(first["job_id"], count=3)} == {"COMPLETED", "FAILED"}


WRAPPER = """#!/bin/bash
echo "$SLURM_JOB_ID $*" >> {log}
exec {python} "$@"
"""


def test_slurm_python_starts_every_task_and_every_retry(app):
    log = app / "wrapper.log"
    wrapper = app / "python-wrapper"
    wrapper.write_text(WRAPPER.format(log=log, python=sys.executable))
    wrapper.chmod(0o755)
    (app / "once.py").write_text(FAIL_ONCE)
    (app / "markers").mkdir()
    env = {**os.environ, "MARKERS": str(app / "markers")}
    result = sweep(app, "+seed=0:2", "+fail=[1]", "+times=1", f"hydra.launcher.slurm.python={wrapper}",
                   script="once.py", env=env)
    assert result.returncode == 1, result.stdout + result.stderr  # run #1 failed; no max_retries
    assert len(log.read_text().splitlines()) == 3, log.read_text()
    assert all("-m submitit.core._submit" in line for line in log.read_text().splitlines())
    retried = subprocess.run([HYDRAFLOW, "retry", str(app / "sweep")], cwd=app, capture_output=True, text=True,
                             timeout=240, env=env)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert len(log.read_text().splitlines()) == 4
    assert [len(a["task_ids"]) for a in arrays(app)] == [3, 1]  # the sweep's three tasks, then the retry's one
    scripts = [Path(a["script"]).read_text() for a in arrays(app)]
    assert all(f"{wrapper} -u -m submitit.core._submit" in script for script in scripts)
