"""A real site's per-user limits (MaxSubmitJobs, MaxJobs), enforced by the local cluster's Slurm:
big sweeps and jobs are fitted to them and finish, and a waiting sweep says why it waits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import copy_example_app

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))
APP = """
import hydra, os, time

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    time.sleep(cfg.get("sleep", 0))
    if os.path.exists(cfg.get("fail_while", "/nonexistent")):
        raise RuntimeError("failing on purpose")
    return cfg.seed

if __name__ == "__main__":
    main()
"""


@pytest.fixture
def app(tmp_path, slurm_cluster):
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def sweep(app: Path, *overrides: str, timeout: float = 400):
    return subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow_slurm",
                           f"hydra.sweep.dir={app / 'sweep'}", *overrides],
                          cwd=app, capture_output=True, text=True, timeout=timeout)


def status_json(directory: Path) -> dict:
    out = subprocess.run([HYDRAFLOW, "status", str(directory), "--json"], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def arrays(directory: Path) -> list:
    lines = (directory / ".hydraflow" / "slurm.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_sweep_over_the_submit_limit_is_packed_to_fit_and_every_run_completes_once(app, site_limits):
    with site_limits("MaxSubmitJobs=10 MaxJobs=4"):
        result = sweep(app, "+seed=range(120)")
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("hydraflow: 120 runs packed 12 per task into 10 array task(s) to fit your limit of 10 queued jobs "
            "(MaxSubmitJobs, association)") in result.stdout
    submitted = arrays(app / "sweep")
    assert [len(a["tasks_runs"]) for a in submitted] == [10] and not any("refused" in a for a in submitted)
    state = status_json(app / "sweep")
    assert state["counts"] == {"completed": 120}
    assert sorted(run["number"] for run in state["runs"]) == list(range(120))
    assert all(run["starts"] == 1 for run in state["runs"]), "a run ran more than once"


def test_walk_away_over_the_submit_limit_completes_with_no_further_command(app, site_limits):
    with site_limits("MaxSubmitJobs=10 MaxJobs=4"):
        result = sweep(app, "+seed=range(60)", "hydra.launcher.wait=false")
        assert result.returncode == 0, result.stderr[-3000:]
        assert "60 runs packed 6 per task into 10 array task(s)" in result.stdout
        deadline = time.monotonic() + 300
        while status_json(app / "sweep")["counts"] != {"completed": 60}:
            assert time.monotonic() < deadline, status_json(app / "sweep")["counts"]
            time.sleep(1)


def test_a_sweep_held_by_the_running_limit_says_why_it_waits(app, site_limits):
    with site_limits("MaxJobs=1"):
        launched = subprocess.Popen([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow_slurm",
                                     f"hydra.sweep.dir={app / 'sweep'}", "+seed=0,1,2", "+sleep=8",
                                     "hydra.launcher.wait=false"], cwd=app, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        assert launched.wait(timeout=120) == 0, launched.stderr.read()
        deadline = time.monotonic() + 60
        while True:
            state = status_json(app / "sweep")
            if state.get("waiting", "").startswith("2 pending: your limit of 1 running jobs (AssocMaxJobsLimit)"):
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        reasons = [run.get("reason") for run in state["runs"] if run["state"] == "pending"]
        assert reasons.count("AssocMaxJobsLimit") == 2 and set(reasons) <= {"AssocMaxJobsLimit", None}
        shown = subprocess.run([HYDRAFLOW, "status", str(app / "sweep")], capture_output=True, text=True, timeout=60)
        assert "waiting: 2 pending: your limit of 1 running jobs (AssocMaxJobsLimit)" in shown.stdout
        subprocess.run([HYDRAFLOW, "cancel", str(app / "sweep")], capture_output=True, timeout=60)


def test_a_job_of_many_batches_is_packed_per_task_and_completes(tmp_path, slurm_cluster, site_limits):
    app = copy_example_app(tmp_path)
    (app / "hydraflow.yaml").write_text(
        f"jobs:\n  many:\n    run: {sys.executable} train.py\n    slurm: {{timeout_min: 10}}\n    steps:\n      - batch: seed=range(12)\n")
    with site_limits("MaxSubmitJobs=4 MaxJobs=4"):
        result = subprocess.run([HYDRAFLOW, "run", "many"], cwd=app, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "12 batches packed 3 per task into 4 array task(s) to fit your limit of 4 queued jobs" in result.stdout
    run_dir = next((app / "multirun" / "many").iterdir())
    state = status_json(run_dir)
    assert state["counts"] == {"completed": 12}
    submitted = [a for a in arrays(run_dir) if "job_id" in a]
    assert [len(a["tasks_runs"]) for a in submitted] == [4]
    assert all(len(runs) == 3 for runs in submitted[0]["tasks_runs"])
    assert submitted[0]["settings"]["array_parallelism"] == 4  # the %N the site allows, not 1


def squeue_mine() -> list:
    out = subprocess.run(["squeue", "-h", "-u", "root", "-o", "%i %j %T"], capture_output=True, text=True, timeout=30)
    return out.stdout.split("\n")[:-1]


def test_runs_per_task_too_small_for_the_limit_goes_out_in_waves_and_every_run_completes_once(app, site_limits):
    with site_limits("MaxSubmitJobs=4 MaxJobs=4"):
        dry = sweep(app, "+seed=range(12)", "hydra.launcher.runs_per_task=1", "hydra.launcher.dry_run=true",
                    timeout=120)
        result = sweep(app, "+seed=range(12)", "hydra.launcher.runs_per_task=1", timeout=120)
    assert dry.returncode == 0 and "12 runs in 5 waves of up to 4 array tasks" in dry.stdout, dry.stderr[-3000:]
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("hydraflow: 12 runs in 5 waves of up to 4 array tasks to fit your limit of 4 queued jobs "
            "(MaxSubmitJobs, association) (0 queued now): the next wave goes as earlier tasks leave the queue"
            ) in result.stdout
    submitted = [a for a in arrays(app / "sweep") if "job_id" in a]
    assert len(submitted) >= 3 and {a["attempt"] for a in submitted} == {1}
    assert sorted(n for a in submitted for runs in a["tasks_runs"] for n in runs) == list(range(12))
    assert not any("refused" in a or "guard" in a for a in arrays(app / "sweep"))
    state = status_json(app / "sweep")
    assert state["counts"] == {"completed": 12}
    assert all(run["starts"] == 1 for run in state["runs"]), "a run ran more than once"


def test_walk_away_in_waves_completes_with_no_further_command_and_nothing_left_queued(app, site_limits):
    with site_limits("MaxSubmitJobs=5 MaxJobs=4"):
        result = sweep(app, "+seed=range(12)", "hydra.launcher.runs_per_task=1", "hydra.launcher.wait=false",
                       timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "12 runs in 4 waves of up to 4 array tasks" in result.stdout
        assert "each wave's small job submits the next once it has left the queue (wait=false)" in result.stdout
        deadline = time.monotonic() + 60
        while status_json(app / "sweep")["counts"] != {"completed": 12} or squeue_mine():
            assert time.monotonic() < deadline, (status_json(app / "sweep")["counts"], squeue_mine())
            time.sleep(1)
    state = status_json(app / "sweep")
    assert all(run["starts"] == 1 for run in state["runs"]), "a run ran more than once"
    records = arrays(app / "sweep")
    assert sorted(n for a in records if "job_id" in a for runs in a["tasks_runs"] for n in runs) == list(range(12))
    assert len([a for a in records if "guard" in a]) == 3 and "waiting" not in state


def test_status_shows_the_waves_to_come_and_cancel_drops_them(app, site_limits):
    with site_limits("MaxSubmitJobs=4 MaxJobs=4"):
        result = sweep(app, "+seed=range(8)", "+sleep=30", "hydra.launcher.runs_per_task=1",
                       "hydra.launcher.wait=false", timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        state = status_json(app / "sweep")
        assert state["to_submit"] == {"runs": 5, "waves": 3}
        assert state["waiting"].endswith("5 runs in 3 waves still to submit"), state
        assert state["counts"].get("pending", 0) + state["counts"].get("running", 0) == 8
        shown = subprocess.run([HYDRAFLOW, "status", str(app / "sweep")], capture_output=True, text=True, timeout=60)
        assert "5 runs in 3 waves still to submit" in shown.stdout
        cancelled = subprocess.run([HYDRAFLOW, "cancel", str(app / "sweep")], capture_output=True, text=True,
                                   timeout=60)
        assert cancelled.returncode == 0, cancelled.stderr
        assert "the waves still to submit (5 runs in 3 waves)" in cancelled.stdout
        deadline = time.monotonic() + 30
        while squeue_mine():
            assert time.monotonic() < deadline, squeue_mine()
            time.sleep(0.5)
        state = status_json(app / "sweep")
        counts = state["counts"]
        assert "to_submit" not in state and counts.pop("planned") == 5, state  # never submitted: retry runs them
        assert sum(counts.values()) == 3 and set(counts) <= {"interrupted", "cancelled"}, state


def test_a_job_with_the_queue_partly_full_goes_out_in_waves_and_completes(tmp_path, slurm_cluster, site_limits):
    app = copy_example_app(tmp_path)
    (app / "hydraflow.yaml").write_text(
        f"jobs:\n  many:\n    run: {sys.executable} train.py\n    slurm: {{timeout_min: 10}}\n    steps:\n      - batch: seed=range(12)\n")
    with site_limits("MaxSubmitJobs=4 MaxJobs=4"):
        held = [subprocess.run(["sbatch", "--parsable", "--hold", "--wrap", "true"], capture_output=True, text=True,
                               timeout=30).stdout.strip() for _ in range(3)]  # someone else's work of the user's
        try:
            result = subprocess.run([HYDRAFLOW, "run", "many"], cwd=app, capture_output=True, text=True, timeout=120)
        finally:
            subprocess.run(["scancel", *held], timeout=30)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert ("12 batches packed 3 per task into 4 array task(s) to fit your limit of 4 queued jobs (MaxSubmitJobs, "
            "association) (3 queued now)") in result.stdout
    assert "12 batches in 3 waves of up to 2 array tasks" in result.stdout
    run_dir = next((app / "multirun" / "many").iterdir())
    state = status_json(run_dir)
    assert state["counts"] == {"completed": 12} and all(run["starts"] == 1 for run in state["runs"])
    submitted = [a for a in arrays(run_dir) if "job_id" in a]
    assert len(submitted) == 4 and all(len(a["tasks_runs"]) == 1 for a in submitted)  # one at a time: room for 1


def test_stopping_a_launcher_that_waits_hands_the_waves_to_come_over_to_the_cluster(app, site_limits):
    with site_limits("MaxSubmitJobs=4 MaxJobs=4"):
        launched = subprocess.Popen([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow_slurm",
                                     f"hydra.sweep.dir={app / 'sweep'}", "+seed=range(12)", "+sleep=2",
                                     "hydra.launcher.runs_per_task=1"], cwd=app, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not (app / "sweep" / ".hydraflow" / "slurm.jsonl").exists():
            assert time.monotonic() < deadline and launched.poll() is None, launched.communicate()[0][-3000:]
            time.sleep(0.2)
        launched.send_signal(signal.SIGINT)  # the first wave is out and fills the queue
        out = launched.communicate(timeout=120)[0]
        assert launched.returncode == 130, out[-3000:]
        assert "the cluster submits them (wave job" in out, out[-3000:]
        deadline = time.monotonic() + 90
        while status_json(app / "sweep")["counts"] != {"completed": 12} or squeue_mine():
            assert time.monotonic() < deadline, (status_json(app / "sweep")["counts"], squeue_mine())
            time.sleep(1)
    assert all(run["starts"] == 1 for run in status_json(app / "sweep")["runs"]), "a run ran more than once"


def test_retry_fits_the_same_way(app, site_limits):
    marker = app / "fail"
    marker.write_text("")
    with site_limits("MaxSubmitJobs=4 MaxJobs=4"):
        first = sweep(app, "+seed=range(8)", f"+fail_while={marker}", "hydra.launcher.runs_per_task=1", timeout=120)
        assert first.returncode == 1, first.stderr[-3000:]
        assert "8 runs in 3 waves of up to 4 array tasks" in first.stdout
        marker.unlink()
        again = subprocess.run([HYDRAFLOW, "retry", str(app / "sweep")], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "8 runs in 3 waves of up to 4 array tasks" in again.stdout
    state = status_json(app / "sweep")
    assert state["counts"] == {"completed": 8} and state["attempts"] == 2
    retried = [a for a in arrays(app / "sweep") if a.get("attempt") == 2 and "job_id" in a]
    assert len(retried) >= 2 and sorted(n for a in retried for runs in a["tasks_runs"] for n in runs) == list(range(8))
