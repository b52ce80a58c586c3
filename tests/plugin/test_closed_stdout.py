"""`python train.py -m ... | head -3`: a real pipe closed early is one line on stderr, and every run completes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
