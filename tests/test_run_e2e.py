"""`hydraflow run` end to end: the example app's jobs through the real CLI, with
real Hydra multiruns in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import pids_running

BIN = Path(sys.executable).parent
HYDRAFLOW = str(BIN / "hydraflow")
# `python` in the jobs' commands must be this environment's python.
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}



def hydraflow(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HYDRAFLOW, *args], cwd=app, env=ENV, capture_output=True, text=True, timeout=300)


def run_dirs(app: Path, job: str):
    return sorted(p for p in (app / "multirun" / job).iterdir() if p.is_dir())


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def overrides_of_runs(run_dir: Path):
    """{batch dir name: [overrides of each run, by run number]}."""
    out = {}
    for batch in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        runs = sorted((p for p in batch.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        out[batch.name] = [yaml.safe_load((r / ".hydra" / "overrides.yaml").read_text()) for r in runs]
    return out


def test_train_runs_four_multiruns_of_two(app):
    result = hydraflow(app, "run", "train")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "train")
    assert overrides_of_runs(run_dir) == {
        f"{i}-model-{m}_learning_rate-{lr}": [
            ["model=" + m, f"learning_rate={lr}", f"optimizer={o}"] for o in ("adam", "sgd")
        ]
        for i, (m, lr) in enumerate([("small", 0.1), ("small", 0.2), ("large", 0.1), ("large", 0.2)])
    }
    assert [b["state"] for b in summary(run_dir)["batches"]] == ["completed"] * 4
    assert "4 completed" in result.stdout
    # Every run really ran: its result file is there.
    assert len(list(run_dir.glob("*/*/result.json"))) == 8


def test_a_failing_batch_does_not_stop_the_others(app):
    result = hydraflow(app, "run", "flaky")
    assert result.returncode == 1
    (run_dir,) = run_dirs(app, "flaky")
    states = [(b["name"], b["state"], b["returncode"]) for b in summary(run_dir)["batches"]]
    assert states == [("0-fail-false", "completed", 0), ("1-fail-true", "failed", 1),
                      ("2-fail-false", "completed", 0)]
    assert (run_dir / "2-fail-false" / "0" / "result.json").exists()  # ran after the failure
    assert "2 completed, 1 failed" in result.stdout
    assert "failing on purpose (fail=True)" in result.stdout  # the end of the failed batch's log
    assert "1-fail-true/hydraflow.log" in result.stdout


def _most_at_once(batches) -> int:
    events = sorted([(b["started_at"], 1) for b in batches] +
                    [(b["started_at"] + b["duration"], -1) for b in batches])
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


@pytest.mark.parametrize("flags, most", [pytest.param((), 2, id="job-max-parallel-2"),
                                         pytest.param(("--max-parallel", "4"), 4, id="cli-max-parallel-4")])
def test_max_parallel_runs_batches_at_once(app, flags, most):
    result = hydraflow(app, "run", "parallel", *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "parallel")
    batches = summary(run_dir)["batches"]
    assert [b["state"] for b in batches] == ["completed"] * 4
    assert _most_at_once(batches) == most


def test_call_runs_a_function_per_batch(app):
    result = hydraflow(app, "run", "called")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "called")
    assert overrides_of_runs(run_dir) == {"0-model-small": [["model=small"]], "1-model-large": [["model=large"]]}
    # The function's output, its subprocess's included, goes to the batch's log, not the terminal.
    log = (run_dir / "0-model-small" / "hydraflow.log").read_text()
    assert "launch.sweep(['model=small'" in log and "hydraflow: 1 runs completed" in log
    assert "runs completed" not in result.stdout + result.stderr


def test_submit_hands_one_file_to_one_command(app):
    result = hydraflow(app, "run", "train_submit")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "train_submit")
    lines = (run_dir / "batches.txt").read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("model=small learning_rate=0.001,0.002,0.003 ")
    runs = overrides_of_runs(run_dir)
    assert runs["0-model-small"] == [["model=small", f"learning_rate={lr}"] for lr in (0.001, 0.002, 0.003)]
    assert runs["1-model-large"] == [["model=large", f"learning_rate={lr}"] for lr in (0.001, 0.002, 0.003)]


def test_running_again_never_overwrites(app):
    assert hydraflow(app, "run", "once").returncode == 0
    assert hydraflow(app, "run", "once").returncode == 0
    first, second = run_dirs(app, "once")
    assert first.name != second.name
    assert overrides_of_runs(first) == overrides_of_runs(second) == {"0": [["seed=0"], ["seed=1"]]}


def test_args_after_the_job_are_appended_and_expanded(app):
    result = hydraflow(app, "run", "once", "learning_rate=1m:2m", "--max-parallel", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "once")
    assert [sorted(r) for r in overrides_of_runs(run_dir)["0"]] == [
        sorted(["seed=0", "learning_rate=0.001"]), sorted(["seed=0", "learning_rate=0.002"]),
        sorted(["seed=1", "learning_rate=0.001"]), sorted(["seed=1", "learning_rate=0.002"])]


def test_ctrl_c_stops_the_children_and_prints_the_summary(app):
    (app / "hydraflow.yaml").write_text(
        "jobs:\n  slow:\n    run: python train.py\n    steps:\n      - batch: seed=0:3\n        with: sleep=60\n")
    process = subprocess.Popen([HYDRAFLOW, "run", "slow"], cwd=app, env=ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while not list((app / "multirun").glob("slow/*/0-seed-0/0/.hydra")):  # the first run has started
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err
    (run_dir,) = run_dirs(app, "slow")
    assert [b["state"] for b in summary(run_dir)["batches"]] == ["interrupted"] + ["not started"] * 3
    assert "1 interrupted, 3 not started" in out
    assert pids_running("sleep=60") == []


@pytest.mark.parametrize(
    "yaml_text, args, message",
    [
        pytest.param("jobs:\n  t:\n    run: no-such-program-here\n", ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:3: jobs.t.run: command 'no-such-program-here' not found\n", id="missing-command"),
        pytest.param("jobs:\n  train:\n    run: python train.py\n", ["run", "trian"],
                     "hydraflow: error: no job 'trian' in hydraflow.yaml (did you mean 'train'?); jobs: train\n",
                     id="unknown-job"),
        pytest.param("jobs:\n  t:\n    run: python train.py\n    steps:\n      - batch: a=(1\n", ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:5: jobs.t.steps[0].batch: unclosed '(' in override\n"
                     "    a=(1\n      ^\nhint: close the group with ')'\n", id="bad-syntax-in-file"),
        pytest.param("jobs:\n  t:\n    run: python train.py\n", ["run", "t", "lr=1:x"],
                     "hydraflow: error: range stop 'x' is not a number in override\n", id="bad-args"),
        pytest.param("jobs:\n  t:\n    call: nomodule.fn\n", ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:3: jobs.t.call: cannot import 'nomodule': No module named 'nomodule'\n",
                     id="call-import-error"),
    ],
)
def test_bad_input_exits_2_with_one_message(app, yaml_text, args, message):
    (app / "hydraflow.yaml").write_text(yaml_text)
    result = hydraflow(app, *args)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr
    assert not (app / "multirun").exists()


def test_missing_job_file(tmp_path):
    result = subprocess.run([HYDRAFLOW, "run", "train"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == (f"hydraflow: error: no hydraflow.yaml in {tmp_path} "
                             "(write one, or give its path with --file PATH)\n")


def test_file_option_runs_in_the_job_files_directory(app, tmp_path):
    result = subprocess.run([HYDRAFLOW, "run", "once", "--file", str(app / "hydraflow.yaml")],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(run_dirs(app, "once")) == 1


def test_show(app):
    result = hydraflow(app, "show", "lr_scan")
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout) == {"jobs": {"lr_scan": {
        "run": "python train.py",
        "with": "seed=1 hydra.job.chdir=false",
        "steps": [
            {"batch": "model=small,large", "args": "learning_rate=1m:5m:2m", "with": "seed=2"},
            {"batch": "model=small", "args": "learning_rate/m=10,20"},
        ],
    }}}
    everything = yaml.safe_load(hydraflow(app, "show").stdout)
    assert list(everything["jobs"]) == list(yaml.safe_load((app / "hydraflow.yaml").read_text())["jobs"])
