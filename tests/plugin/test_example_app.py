"""The plugin on example_app, run as users run it: `python train.py -m ...` in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import pids_running




def multirun(app: Path, *overrides: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "train.py", "-m", "hydra.sweep.dir=sweep", *overrides],
        cwd=app, capture_output=True, text=True, timeout=300,
    )
    result.output = result.stdout + result.stderr  # Hydra logs to stdout, errors go to stderr
    return result


def runs(app: Path):
    """[(run number, overrides, result.json or None)] in run order."""
    out = []
    for run in sorted((p for p in (app / "sweep").iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        result = run / "result.json"
        out.append((int(run.name), overrides, json.loads(result.read_text()) if result.exists() else None))
    return out


def overrides(app: Path):
    return [o for _, o, _ in runs(app)]


@pytest.mark.parametrize("extra", [pytest.param([], id="in-process"),
                                   pytest.param(["hydra.launcher.max_parallel=2"], id="two-workers")])
def test_launcher_alone_gives_the_extended_syntax(app, extra):
    result = multirun(app, "hydra/launcher=hydraflow", "learning_rate=1:3", "model=small,large", *extra)
    assert result.returncode == 0, result.stderr
    assert "hydraflow: using the hydraflow sweeper" in result.output
    assert overrides(app) == [[f"learning_rate={lr}", f"model={m}"] for lr in (1, 2, 3) for m in ("small", "large")]
    assert all(r is not None and r["cfg"]["model"]["name"] == o[1].split("=")[1] for _, o, r in runs(app))
    assert (app / "sweep" / "multirun.yaml").exists()


def test_sweeper_with_a_quoted_group_product_and_a_pipe(app):
    result = multirun(app, "hydra/sweeper=hydraflow", "hydra/launcher=basic",
                      "learning_rate='(1,2)e-(3:4)'", "optimizer=adam,sgd|rmsprop")
    assert result.returncode == 0, result.stderr
    assert "12 runs in 2 batch group(s)" in result.output
    lrs = ["1e-3", "1e-4", "2e-3", "2e-4"]
    assert overrides(app) == (
        [[f"learning_rate={lr}", f"optimizer={o}"] for lr in lrs for o in ("adam", "sgd")]
        + [[f"learning_rate={lr}", "optimizer=rmsprop"] for lr in lrs])
    assert [r["cfg"]["learning_rate"] for _, _, r in runs(app)][:2] == [0.001, 0.001]


def test_sweeper_takes_the_steps_of_a_job_definition(app):
    result = multirun(app, "hydra/sweeper=hydraflow", "hydra.sweeper.job=train")
    assert result.returncode == 0, result.stderr
    assert "8 runs in 4 batch group(s)" in result.output
    assert overrides(app) == [
        [f"model={m}", f"learning_rate={lr}", f"optimizer={o}"]
        for m in ("small", "large") for lr in (0.1, 0.2) for o in ("adam", "sgd")]


def test_sweeper_params_from_the_command_line(app):
    result = multirun(app, "hydra/sweeper=hydraflow", "+hydra.sweeper.params.learning_rate=1m:3m", "seed=0,1")
    assert result.returncode == 0, result.stderr
    assert overrides(app) == [[f"learning_rate={lr}", f"seed={s}"] for lr in (0.001, 0.002, 0.003) for s in (0, 1)]


def test_a_failing_run_does_not_stop_the_others(app):
    result = multirun(app, "hydra/launcher=hydraflow", "fail=false,true,false", "seed=0,1")
    assert result.returncode == 1
    done = [(n, r is not None) for n, _, r in runs(app)]
    assert done == [(0, True), (1, True), (2, False), (3, False), (4, True), (5, True)]
    assert "hydraflow: 2 of 6 runs failed (4 completed):" in result.stderr
    assert "  #2 fail=true seed=0\n      RuntimeError: failing on purpose (fail=True)\n" in result.stderr
    assert f"log: {app / 'sweep' / '3' / 'train.log'}" in result.stderr
    assert "Traceback" not in result.stderr.split("hydraflow: 2 of 6")[1]


def test_the_apps_own_launcher_option_extends_hydraflow(app):
    result = multirun(app, "hydra/launcher=fast", "seed=0:3", "sleep=0.3")
    assert result.returncode == 0, result.stderr
    assert "on 2 workers" in result.output
    pids = {r["pid"] for _, _, r in runs(app)}
    assert len(pids) == 2 and len(runs(app)) == 4


def test_an_explicit_basic_sweeper_is_kept(app):
    result = multirun(app, "hydra/sweeper=basic", "optimizer=1:3,adam", "seed=0,1")
    assert result.returncode == 0, result.stderr
    assert "keeping the basic sweeper" in result.output
    # Hydra's own reading: '1:3' is a string, not a range.
    assert overrides(app) == [["optimizer=1\\:3", "seed=0"], ["optimizer=1\\:3", "seed=1"],
                              ["optimizer=adam", "seed=0"], ["optimizer=adam", "seed=1"]]


def test_gpus_one_per_worker(app):
    result = multirun(app, "hydra.launcher.max_parallel=2", "hydra.launcher.gpus=[3,5]", "seed=0:5", "sleep=0.2")
    assert result.returncode == 0, result.stderr
    by_pid = {}
    for _, _, r in runs(app):
        by_pid.setdefault(r["pid"], set()).add(r["cuda_visible_devices"])
    assert sorted(d for devices in by_pid.values() for d in devices) == ["3", "5"]
    assert all(len(devices) == 1 for devices in by_pid.values())


def test_runs_per_task_packs_consecutive_runs(app):
    result = multirun(app, "hydra.launcher.max_parallel=2", "hydra.launcher.runs_per_task=3", "seed=0:5")
    assert result.returncode == 0, result.stderr
    pids = [r["pid"] for _, _, r in runs(app)]
    assert pids[0] == pids[1] == pids[2] and pids[3] == pids[4] == pids[5]


def test_bad_syntax_is_one_message(app):
    result = multirun(app, "learning_rate=1:3tep,2")
    assert result.returncode == 1
    assert "hydraflow: range stop '3tep' is not a number in override\n    learning_rate=1:3tep,2\n" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_launcher_field_is_one_message(app):
    result = multirun(app, "hydra.launcher.max_parallel=0", "seed=0,1")
    assert result.returncode == 1
    assert "hydra.launcher: max_parallel must be a whole number of at least 1, not 0" in result.stderr


def test_params_in_a_config_file_and_the_yaml_base_60_warning(app):
    (app / "conf" / "sweep.yaml").write_text(
        "defaults:\n  - config\n  - override hydra/sweeper: hydraflow\n  - _self_\n"
        "hydra:\n  sweeper:\n    params:\n      learning_rate: '0:1:#3'\n      seed: 1:30\n")
    result = subprocess.run([sys.executable, "train.py", "--config-name", "sweep", "-m", "hydra.sweep.dir=sweep"],
                            cwd=app, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert ("hydra.sweeper.params.seed is the number 90; if you wrote a range such as 1:30, quote it ('1:30')"
            in result.stdout + result.stderr)
    assert overrides(app) == [["learning_rate=0.0", "seed=90"], ["learning_rate=0.5", "seed=90"],
                              ["learning_rate=1.0", "seed=90"]]


def _most_at_once(app: Path, seconds: float) -> int:
    starts = sorted(r["started_at"] for _, _, r in runs(app))
    return max(sum(1 for s in starts if t <= s < t + seconds) for t in starts)


def test_batch_groups_do_not_wait_for_each_other(app):
    # 4 batch groups of 2 runs on 4 workers: all 8 runs overlap 4 at a time.
    result = multirun(app, "hydra/sweeper=hydraflow", "hydra.sweeper.job=train", "hydra.launcher.max_parallel=4",
                      "sleep=1")
    assert result.returncode == 0, result.stderr
    assert "8 runs in 4 batch group(s)" in result.output
    assert _most_at_once(app, 0.9) == 4


def test_a_dying_worker_fails_its_run_only(app):
    result = multirun(app, "hydra.launcher.max_parallel=2", "hydra.launcher.runs_per_task=2",
                      "crash=false,true,false,false", "seed=0")
    assert result.returncode == 1
    done = [(n, r is not None) for n, _, r in runs(app)]
    assert done == [(0, True), (1, False), (2, True), (3, True)]
    assert "hydraflow: 1 of 4 runs failed (3 completed):" in result.stderr
    assert "  #1 crash=true seed=0\n      RuntimeError: the worker running #1 died (exit code 3)\n" in result.stderr
    assert f"log: {app / 'sweep' / '1' / 'train.log'}" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_parent_stops_its_workers(app, sig):
    marker = uuid.uuid4().hex  # finds this sweep's processes (workers share its command line)
    process = subprocess.Popen([sys.executable, "train.py", "-m", "hydra.sweep.dir=sweep",
                                "hydra.launcher.max_parallel=2", "seed=0:3", "sleep=30", f"+marker={marker}"],
                               cwd=app, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while len(list((app / "sweep").glob("[0-9]"))) < 2:
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.1)
    assert len(_pids(marker)) == 3  # the parent and its two workers
    process.send_signal(sig)
    out, err = process.communicate(timeout=20)
    assert process.returncode == {signal.SIGINT: 130, signal.SIGTERM: -15, signal.SIGKILL: -9}[sig]
    if sig == signal.SIGINT:
        assert "hydraflow: interrupted after 0 of 4 runs (0 failed)" in err
        assert "Traceback" not in out + err
    deadline = time.time() + 5
    while _pids(marker) and time.time() < deadline:
        time.sleep(0.1)
    assert _pids(marker) == []


def _pids(marker: str) -> list:
    return pids_running(marker)
