"""`python train.py -m ... | head -3`: a real pipe closed early is one line on stderr, and every run completes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hydraflow_core.cli.stdout import GuardedStdout, guard_stdout, release_stdout

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))
NOTE = "hydraflow: stdout was closed by its reader (such as | head); nothing more is written there"


@pytest.mark.parametrize("command, extra", [
    pytest.param([sys.executable, "train.py", "-m", "hydra/launcher=hydraflow"], [], id="in-process"),
    pytest.param([sys.executable, "train.py", "-m", "hydra/launcher=hydraflow"], ["hydra.launcher.max_parallel=2"],
                 id="two-workers"),
    pytest.param([sys.executable, "train.py", "-m", "hydra/sweeper=hydraflow", "hydra/launcher=basic"], [],
                 id="hydraflow-sweeper-basic-launcher"),
    pytest.param([HYDRAFLOW, "sweep", "--", sys.executable, "train.py"], [], id="hydraflow-sweep"),
])
def test_a_closed_stdout_is_one_line_and_the_runs_go_on(app, command, extra):
    process = subprocess.Popen([*command, "seed=0:19", "sleep=0.05", "hydra.sweep.dir=sweep", *extra], cwd=app,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = [process.stdout.readline() for _ in range(3)]  # `| head -3`
    process.stdout.close()
    err = process.stderr.read().decode()
    process.wait(timeout=300)
    assert all(first), first
    assert process.returncode == 0, err
    assert err.count(NOTE) == 1, err
    assert "Logging error" not in err and "BrokenPipeError" not in err and "Traceback" not in err, err
    status = subprocess.run([HYDRAFLOW, "status", "sweep", "--json"], cwd=app, capture_output=True, text=True)
    assert json.loads(status.stdout)["counts"] == {"completed": 20}
    for seed in range(20):  # each run's own log is whole
        (line,) = [text for text in (app / "sweep" / str(seed) / "train.log").read_text().splitlines()
                   if "loss=" in text]
        assert "model=small learning_rate=0.01" in line


def _closed_pipe() -> int:
    """The write end of a pipe whose reader has gone before anything was written (`| true`)."""
    read, write = os.pipe()
    os.close(read)
    return write


def _run_into_a_closed_pipe(argv, cwd):
    write = _closed_pipe()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # the job's python
    try:
        return subprocess.run(argv, cwd=cwd, stdout=write, stderr=subprocess.PIPE, text=True, timeout=300, env=env)
    finally:
        os.close(write)


def _status(app, directory="sweep"):
    return json.loads(subprocess.run([HYDRAFLOW, "status", directory, "--json"], cwd=app, capture_output=True,
                                     text=True).stdout)


SWEEP = [HYDRAFLOW, "sweep", "--", sys.executable, "train.py", "hydra.sweep.dir=sweep"]


# A verb that starts (or stops) runs goes on, says so once and keeps its exit code; a read-only verb stops
# writing quietly and keeps its own exit code. Before: `hydraflow sweep ... | true` ran nothing and exited 0.
@pytest.mark.parametrize("before, argv, code, note, counts", [
    pytest.param(None, [*SWEEP, "seed=0:2"], 0, True, {"completed": 3}, id="sweep"),
    pytest.param(None, [*SWEEP, "seed=0", "fail=false,true"], 1, True, {"completed": 1, "failed": 1},
                 id="sweep-with-a-failed-run"),
    pytest.param([*SWEEP, "seed=0", "fail=false,true"], [HYDRAFLOW, "retry", "sweep", "hydra.launcher.max_parallel=2"],
                 1, True, {"completed": 1, "failed": 1}, id="retry"),
    pytest.param(None, [HYDRAFLOW, "run", "train"], 0, True, None, id="run-a-job"),
    pytest.param([*SWEEP, "seed=0:1"], [HYDRAFLOW, "status", "sweep"], 0, False, {"completed": 2}, id="status"),
    pytest.param([*SWEEP, "seed=0", "fail=false,true"], [HYDRAFLOW, "status", "sweep", "--watch"], 1, False,
                 {"completed": 1, "failed": 1}, id="status-keeps-its-verdict"),
    pytest.param(None, [HYDRAFLOW, "expand", "a=1:100000"], 0, False, None, id="expand"),
    pytest.param(None, [HYDRAFLOW, "show"], 0, False, None, id="show"),
    pytest.param(None, [*SWEEP[:2], "--dry-run", *SWEEP[2:], "seed=0:2"], 0, False, None, id="sweep-dry-run"),
])
def test_a_stdout_closed_before_the_first_line(app, before, argv, code, note, counts):
    if before:
        subprocess.run(before, cwd=app, capture_output=True, timeout=300)
    result = _run_into_a_closed_pipe(argv, app)
    assert result.returncode == code, result.stderr
    assert result.stderr.count(NOTE) == (1 if note else 0), result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    if counts:
        assert _status(app)["counts"] == counts
    if argv[1:3] == ["run", "train"]:  # every batch of the job ran
        (run_dir,) = (app / "multirun" / "train").iterdir()
        assert _status(app, str(run_dir))["counts"] == {"completed": 4}


def _pipe_writer():
    read, write = os.pipe()
    os.close(read)
    return open(write, "w")


@pytest.mark.parametrize("make, guarded", [
    pytest.param(lambda tmp: _pipe_writer(), True, id="pipe"),
    pytest.param(lambda tmp: open(tmp / "out.txt", "w"), False, id="file"),
    pytest.param(lambda tmp: io.StringIO(), False, id="no-descriptor"),  # pytest's capture, Jupyter's stream
])
def test_only_a_pipe_is_guarded_and_only_during_the_sweep(tmp_path, monkeypatch, make, guarded):
    stream = make(tmp_path)
    monkeypatch.setattr(sys, "stdout", stream)
    guard_stdout("sweep")
    assert isinstance(sys.stdout, GuardedStdout) == guarded
    release_stdout()
    assert sys.stdout is stream
    stream.close()
