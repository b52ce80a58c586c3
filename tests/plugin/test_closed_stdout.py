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
