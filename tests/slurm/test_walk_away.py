"""Submit and walk away: wait=false, status with sacct, retry only what did not complete, cancel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hydraflow_core import manifest
from slurm.conftest import sacct_rows

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))

APP = '''
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    out = Path(HydraConfig.get().runtime.output_dir)
    fixed = (out.parent / "fixed").exists()  # written by the test before it retries
    if cfg.x in (3, 7) and not fixed:
        time.sleep(120)  # cancelled by the test
    if cfg.x == 11 and not fixed:
        raise RuntimeError("failing on purpose")
    if cfg.x == 22:  # fails, then runs for a while once fixed (a retry that returns at once leaves it running)
        if not fixed:
            raise RuntimeError("failing on purpose")
        time.sleep(5)
    with open(out / "ran.txt", "a") as f:
        f.write(f"{cfg.x}\\n")
    return cfg.x


if __name__ == "__main__":
    main()
'''


@pytest.fixture
def app(tmp_path, slurm_cluster):
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def hydraflow(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # `python` in a job's run: command must be this environment's (as in tests/test_run_e2e.py)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([HYDRAFLOW, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def submit(app: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow_slurm", "hydra.sweep.dir=sweep",
                           "hydra.launcher.wait=false", *overrides], cwd=app, capture_output=True, text=True,
                          timeout=120)


def arrays(app: Path) -> list:
    return [json.loads(line) for line in (app / "sweep" / ".hydraflow" / "slurm.jsonl").read_text().splitlines()]


def status_json(app: Path) -> dict:
    return json.loads(hydraflow("status", "sweep", "--json", cwd=app).stdout)


def wait_running(job: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while "RUNNING" not in subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True,
                                          text=True).stdout:
        assert time.time() < deadline, f"{job} never ran"
        time.sleep(0.2)


def test_cancelled_and_failed_runs_are_shown_and_only_they_are_retried(app):
    result = submit(app, "+x=range(0,20)")
    assert result.returncode == 0, result.stderr
    assert "hydraflow: submitted 20 runs to Slurm in 1 array(s); they run on the cluster: sweep" in result.stderr
    assert "hydraflow status sweep" in result.stderr and "hydraflow cancel sweep" in result.stderr
    (array,) = arrays(app)
    # Back at the prompt before the runs ended: the tasks of #3 and #7 (120 s each) are still queued or running.
    queued = subprocess.run(["squeue", "-h", "-r", "-j", array["job_id"], "-o", "%i %T"], capture_output=True,
                            text=True).stdout.split("\n")
    for task in (3, 7):
        assert any(line.split()[:1] == [f"{array['job_id']}_{task}"] and line.split()[1] in ("PENDING", "RUNNING")
                   for line in queued if line.strip()), queued
    for task in (3, 7):
        wait_running(f"{array['job_id']}_{task}")
    busy = hydraflow("retry", "sweep", cwd=app)
    assert busy.returncode == 2 and "is still running on Slurm" in busy.stderr
    for task in (3, 7):
        subprocess.run(["scancel", f"{array['job_id']}_{task}"], check=True)
    sacct_rows(array["job_id"], count=20)  # every task has ended
    time.sleep(1)
    status = hydraflow("status", "sweep", cwd=app)
    assert status.returncode == 1
    assert "20 runs — 17 completed, 1 failed, 2 cancelled" in status.stdout, status.stdout
    runs = {r["number"]: r for r in status_json(app)["runs"]}
    assert runs[3]["state"] == "cancelled" and "Slurm says task" in runs[3]["error"]
    assert runs[11]["state"] == "failed" and runs[11]["error"] == "RuntimeError: failing on purpose"

    (app / "sweep" / "fixed").write_text("")
    again = hydraflow("retry", "sweep", "--wait", cwd=app)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "retrying 3 of 20 runs (#3 #7 #11)" in again.stdout
    assert arrays(app)[-1]["tasks_runs"] == [[3], [7], [11]]
    final = hydraflow("status", "sweep", cwd=app)
    assert final.returncode == 0 and "20 runs — 20 completed" in final.stdout
    for n in range(20):  # each output directory holds exactly one run's result
        assert (app / "sweep" / str(n) / "ran.txt").read_text() == f"{n}\n"


@pytest.mark.parametrize("then", ["wait", "cancel"])
def test_retry_no_wait_resubmits_and_returns_before_the_runs_end(app, then):
    result = submit(app, "+x=21,22")
    assert result.returncode == 0, result.stderr
    (array,) = arrays(app)
    sacct_rows(array["job_id"], count=2)  # both tasks ended; #1 failed
    assert [r["state"] for r in status_json(app)["runs"]] == ["completed", "failed"]
    (app / "sweep" / "fixed").write_text("")
    again = hydraflow("retry", "sweep", "--no-wait", cwd=app)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "hydraflow: retrying 1 of 2 runs (#1)" in again.stdout
    assert "hydraflow: submitted 1 runs to Slurm in 1 array(s); they run on the cluster: " in again.stderr
    new = arrays(app)[-1]
    (task,) = new["task_ids"]
    assert (new["attempt"], new["tasks_runs"]) == (2, [[1]])
    # Back at the prompt before the run ended (it runs 5 s): Slurm still has its task, status says it is under
    # way there, and another retry is refused until it ends.
    queued = subprocess.run(["squeue", "-h", "-j", new["job_id"], "-o", "%T"], capture_output=True, text=True)
    assert queued.stdout.split() and set(queued.stdout.split()) <= {"PENDING", "RUNNING"}, queued.stdout
    during = hydraflow("status", "sweep", "--json", cwd=app)
    run = json.loads(during.stdout)["runs"][1]
    assert during.returncode == 1 and run["state"] in ("pending", "running") and run["job_id"] == task, run
    refused = hydraflow("retry", "sweep", "--no-wait", cwd=app)
    assert refused.returncode == 2 and "is still running on Slurm" in refused.stderr, refused.stderr
    assert len(arrays(app)) == 2
    if then == "wait":
        assert sacct_rows(new["job_id"], count=1) == [(task, "COMPLETED")]
        final = status_json(app)
        assert [(r["state"], r["attempt"], r["starts"]) for r in final["runs"]] == [("completed", 1, 1),
                                                                                  ("completed", 2, 2)]
        assert (app / "sweep" / "1" / "ran.txt").read_text() == "22\n"
    else:  # cancel stops the retry's task
        cancelled = hydraflow("cancel", "sweep", cwd=app)
        assert cancelled.returncode == 0 and f"hydraflow: cancelled {new['job_id']};" in cancelled.stdout
        ((job, state),) = sacct_rows(new["job_id"], count=1)
        assert (job, state.split()[0]) == (task, "CANCELLED")
        assert [r["state"] for r in status_json(app)["runs"]] == ["completed", "cancelled"]


def test_cancel_stops_what_has_not_ended(app):
    result = submit(app, "+x=3,7")
    assert result.returncode == 0, result.stderr
    (array,) = arrays(app)
    wait_running(f"{array['job_id']}_0")
    cancelled = hydraflow("cancel", "sweep", cwd=app)
    assert cancelled.returncode == 0 and f"cancelled {array['job_id']}" in cancelled.stdout
    rows = sacct_rows(array["job_id"], count=2)
    assert {state.split()[0] for _, state in rows} == {"CANCELLED"}
    time.sleep(1)
    status = hydraflow("status", "sweep", cwd=app)
    assert status.returncode == 1 and "2 cancelled" in status.stdout
    assert status_json(app)["attempts"] == 2  # the launch, then the cancel, recorded
    assert hydraflow("cancel", "sweep", cwd=app).stdout.startswith("hydraflow: nothing to cancel")


def test_status_without_sacct_reads_the_queue(app, monkeypatch, tmp_path):
    """A cluster without accounting (Hydra #1847): status from the manifest and squeue, saying so."""
    result = submit(app, "+x=0,1")
    assert result.returncode == 0, result.stderr
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sacct").write_text("#!/bin/sh\necho 'Slurm accounting storage is disabled' >&2\nexit 1\n")
    (shim / "sacct").chmod(0o755)
    env = {**__import__("os").environ, "PATH": f"{shim}:{__import__('os').environ['PATH']}"}
    deadline = time.time() + 90
    while True:
        out = subprocess.run([HYDRAFLOW, "status", "sweep"], cwd=app, env=env, capture_output=True, text=True)
        # squeue lists a task for a moment after its runs completed (COMPLETING): then it needs no sacct
        if out.returncode == 0 and "note: sacct" in out.stdout or time.time() > deadline:
            break
        time.sleep(0.5)
    assert out.returncode == 0, out.stdout
    assert "note: sacct is not available: states come from the manifest and squeue" in out.stdout
    assert manifest.read(app / "sweep").complete


JOB_FILE = """jobs:
  sized:
    run: python train.py
    max_parallel: 2
    slurm:
      cpus_per_task: 1
      timeout_min: 5
    steps:
      - batch: model=small seed=0,1
      - batch: model=large seed=0:2 fail=false
        slurm:
          cpus_per_task: 2
"""


def test_a_hydraflow_run_job_on_slurm_with_per_step_resources(tmp_path, slurm_cluster):
    from conftest import copy_example_app

    app = copy_example_app(tmp_path)
    (app / "hydraflow.yaml").write_text(JOB_FILE.replace("fail=false", "fail=false,true"))
    dry = hydraflow("run", "sized", "--dry-run", cwd=app)
    assert dry.returncode == 0 and "#   #SBATCH --cpus-per-task=2" in dry.stdout and "# task 0: python train.py" \
        in dry.stdout
    result = hydraflow("run", "sized", cwd=app)
    assert result.returncode == 1, result.stdout + result.stderr  # the three fail=true batches fail on purpose
    (run_dir,) = (app / "multirun" / "sized").iterdir()
    records = [json.loads(line) for line in (run_dir / ".hydraflow" / "slurm.jsonl").read_text().splitlines()]
    assert [r["settings"]["cpus_per_task"] for r in records] == [1, 2]
    cpus = {}
    for record in records:
        rows = sacct_rows(record["job_id"], ("JobID", "State", "ReqCPUS"), count=record["tasks"])
        cpus.update({job: int(req) for job, _, req in rows})
    assert sorted(cpus.values()) == [1, 1, 2, 2, 2, 2, 2, 2]
    status = hydraflow("status", str(run_dir), cwd=app)
    assert status.returncode == 1 and "8 batches — 5 completed, 3 failed" in status.stdout
    (app / "hydraflow.yaml").write_text(JOB_FILE)  # not used by retry: the recorded commands are
    again = hydraflow("retry", str(run_dir), cwd=app)
    # the failing batches fail again (their recorded overrides say fail=true): only they were resubmitted
    assert again.returncode == 1 and "retrying 3 of 8 batches on Slurm" in again.stdout
    records = [json.loads(line) for line in (run_dir / ".hydraflow" / "slurm.jsonl").read_text().splitlines()]
    assert records[-1]["tasks_runs"] == [[3], [5], [7]] and records[-1]["settings"]["cpus_per_task"] == 2


def test_a_jobs_batches_on_slurm_run_their_runs_on_the_hydraflow_launcher(app):
    """An app that chooses no launcher: each batch, run in an array task, records its own runs. The variable
    reaches the task through the batch's command (hydraflow run's own environment lacks it, so sbatch's
    passing on of the environment is not what gives it)."""
    (app / "hydraflow.yaml").write_text("jobs:\n  t:\n    run: python app.py\n    slurm:\n      timeout_min: 5\n"
                                        "    steps:\n      - batch: +y=1,2\n        args: +x=1,2\n")
    result = hydraflow("run", "t", cwd=app)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (app / "multirun" / "t").iterdir()
    for batch in ("0-y-1", "1-y-2"):
        runs = manifest.read(run_dir / batch).runs
        assert [(r.state, r.extra.get("return_value")) for r in runs] == [("completed", 1), ("completed", 2)]


def test_retry_local_runs_a_slurm_sweeps_unfinished_runs_here(app):
    result = submit(app, "+x=2,3")
    assert result.returncode == 0, result.stderr
    (array,) = arrays(app)
    wait_running(f"{array['job_id']}_1")
    assert hydraflow("cancel", "sweep", cwd=app).returncode == 0
    sacct_rows(array["job_id"], count=2)
    time.sleep(1)
    (app / "sweep" / "fixed").write_text("")
    again = hydraflow("retry", "sweep", "--local", cwd=app)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "hydra.launcher.backend=local" in again.stdout
    assert len(arrays(app)) == 1, "retry --local submitted to Slurm"
    state = manifest.read(app / "sweep")
    assert state.complete and state.runs[1].job_id.startswith("local:")
