"""Exit codes and signals (README): SIGHUP ends `hydraflow run` and a plugin sweep with 129, and a second
signal kills the running batches or workers at once instead of after the 5 s grace period.

Real processes only: a Hydra app whose run sleeps until it is stopped; a stubborn run catches the stop and
keeps going for 4 s (inside the grace period), then leaves a `survived` file. A second signal that kills at
once leaves none; one that did nothing would let the grace period run out after that file was written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import pids_running

BIN = Path(sys.executable).parent
HYDRAFLOW = str(BIN / "hydraflow")
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # `python` in a job is this one
ENV.pop("HYDRAFLOW_REPLAY", None)

APP = '''
import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "started").write_text(str(os.getpid()))
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        (out / "stopped-once").write_text("")
        if cfg.stubborn:
            time.sleep(4)  # inside the 5 s grace period: only a second signal cuts it short
            (out / "survived").write_text("")
        raise


if __name__ == "__main__":
    main()
'''


def start(tmp_path: Path, front: str, stubborn: bool, marker: str) -> subprocess.Popen:
    """`hydraflow run` of a job of one batch (the app on hydraflow in-process), or a plugin sweep of two
    runs on two workers; every process of it has ``marker`` on its command line."""
    (tmp_path / "app.py").write_text(APP)
    settings = f"+stubborn={str(stubborn).lower()} +marker={marker}"
    if front == "run":
        (tmp_path / "hydraflow.yaml").write_text(
            f"jobs:\n  slow:\n    run: python app.py\n    with: hydra/launcher=hydraflow {settings}\n")
        argv = [HYDRAFLOW, "run", "slow"]
    else:
        argv = [sys.executable, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep",
                "hydra.launcher.max_parallel=2", "+x=1,2", *settings.split()]
    return subprocess.Popen(argv, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_files(tmp_path: Path, name: str, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while len(list(tmp_path.rglob(name))) < count:
        if process.poll() is not None:
            raise AssertionError(f"ended (exit {process.returncode}) before {count} '{name}':\n"
                                 + "\n".join(process.communicate()))
        assert time.monotonic() < deadline, f"no {count} '{name}' files after 60 s"
        time.sleep(0.02)


def states(tmp_path: Path, front: str) -> dict:
    """{run or batch: (state, error)} of the sweep, or of the `hydraflow run` directory."""
    directory = tmp_path / "sweep" if front == "plugin" else next((tmp_path / "multirun" / "slow").iterdir())
    out = subprocess.run([HYDRAFLOW, "status", str(directory), "--json"], capture_output=True, text=True)
    return {r["number"]: (r["state"], r["error"]) for r in json.loads(out.stdout)["runs"]}


RUNNING = {"run": 1, "plugin": 2}  # runs under way when the signal comes


@pytest.mark.parametrize("front", [pytest.param("run", id="hydraflow-run"), pytest.param("plugin", id="plugin")])
def test_sighup_stops_with_exit_code_129(tmp_path, front):
    marker = uuid.uuid4().hex
    process = start(tmp_path, front, stubborn=False, marker=marker)
    wait_for_files(tmp_path, "started", RUNNING[front], process)
    process.send_signal(signal.SIGHUP)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 129, out + err
    assert "Traceback" not in out + err
    assert len(list(tmp_path.rglob("stopped-once"))) == RUNNING[front]  # each run was stopped, not killed
    assert pids_running(marker) == []
    if front == "run":
        assert "1 interrupted" in out
        assert states(tmp_path, front) == {0: ("interrupted", "stopped by SIGHUP")}
    else:
        assert "hydraflow: interrupted after 0 of 2 runs (0 failed)" in err
        assert states(tmp_path, front) == {0: ("interrupted", "stopped by a signal"),
                                           1: ("interrupted", "stopped by a signal")}


@pytest.mark.parametrize("front", [pytest.param("run", id="hydraflow-run"), pytest.param("plugin", id="plugin")])
def test_a_second_signal_kills_at_once(tmp_path, front):
    marker = uuid.uuid4().hex
    process = start(tmp_path, front, stubborn=True, marker=marker)
    wait_for_files(tmp_path, "started", RUNNING[front], process)
    process.send_signal(signal.SIGTERM)
    wait_for_files(tmp_path, "stopped-once", RUNNING[front], process)  # the stop came; the runs go on regardless
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, out + err
    assert "Traceback" not in out + err
    assert pids_running(marker) == []
    assert list(tmp_path.rglob("survived")) == [], "the second signal waited for the grace period"
    if front == "run":
        assert states(tmp_path, front) == {0: ("interrupted", "stopped by SIGTERM")}
    else:
        assert states(tmp_path, front) == {0: ("interrupted", "stopped by SIGTERM"),
                                           1: ("interrupted", "stopped by SIGTERM")}
