"""hydra.launcher.timeout_min: a run past its limit is stopped and recorded as timed out; the others go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HYDRAFLOW = str(Path(sys.executable).parent / "hydraflow")

# A run sleeps its `s` seconds while the file `slow` is beside the app (a retry, once it is gone, completes).
APP = '''
import time
from pathlib import Path

import hydra


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    if cfg.s and Path(__file__).with_name("slow").exists():
        time.sleep(cfg.s)
    return cfg.s


if __name__ == "__main__":
    main()
'''
LIMIT = "0.02"  # minutes: 1.2 s


def _app(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "slow").touch()
    return tmp_path


def multirun(app: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRAFLOW_REPLAY"}
    result = subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep",
                             *overrides],
                            cwd=app, env=env, capture_output=True, text=True, timeout=120)
    result.output = result.stdout + result.stderr
    return result


def hydraflow(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HYDRAFLOW, *args], cwd=app, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("settings", [
    pytest.param([], id="max_parallel=null-on-a-worker"),
    pytest.param(["hydra.launcher.max_parallel=2"], id="max_parallel=2"),
    pytest.param(["hydra.launcher.start=exec"], id="start=exec"),
    pytest.param(["hydra.launcher.runs_per_task=2"], id="runs_per_task=2"),
    pytest.param(["hydra.launcher.start=exec", "hydra.launcher.runs_per_task=2", "hydra.launcher.max_parallel=2"],
                 id="start=exec-runs_per_task=2-max_parallel=2"),
])
def test_a_run_past_its_limit_times_out_and_the_others_complete(tmp_path, settings):
    """#2 sleeps 30 s against a 1.2 s limit; with runs_per_task=2 it is the first run of its task, so
    #3, after it in the same task, must still run."""
    app = _app(tmp_path)
    result = multirun(app, f"hydra.launcher.timeout_min={LIMIT}", "+s=0,0,30,0", *settings)
    assert result.returncode == 1, result.output
    assert "hydraflow: 1 of 4 runs timed out (3 completed):\n  #2 +s=30\n      timed out after 0.02 min\n" \
        in result.stderr
    assert "Traceback" not in result.output and "traceback" not in result.stderr
    status = json.loads(hydraflow(app, "status", "sweep", "--json").stdout)
    assert [(r["state"], r["error"]) for r in status["runs"]] == [
        ("completed", None), ("completed", None), ("timed out", "timed out after 0.02 min"), ("completed", None)]
    assert status["counts"] == {"completed": 3, "timed out": 1}
    shown = hydraflow(app, "status", "sweep")
    assert shown.returncode == 1
    assert "sweep: 4 runs — 3 completed, 1 timed out" in shown.stdout


def test_retry_runs_a_timed_out_run_again(tmp_path):
    app = _app(tmp_path)
    assert multirun(app, f"hydra.launcher.timeout_min={LIMIT}", "+s=0,30").returncode == 1
    (app / "slow").unlink()
    retried = hydraflow(app, "retry", "sweep")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "retrying 1 of 2 runs (#1)" in retried.stdout
    status = json.loads(hydraflow(app, "status", "sweep", "--json").stdout)
    assert [r["state"] for r in status["runs"]] == ["completed", "completed"]


def test_without_a_limit_runs_stay_in_this_process(tmp_path):
    result = multirun(_app(tmp_path), "+s=0")
    assert result.returncode == 0, result.output
    assert "Launching 1 jobs locally in this process" in result.output
    result = multirun(_app(tmp_path), f"hydra.launcher.timeout_min={LIMIT}", "+s=0")
    assert "Launching 1 jobs locally on 1 worker" in result.output


VALID = "timeout_min must be a positive number of minutes (e.g. 30 or 0.5), or null for no limit"


@pytest.mark.parametrize("value, message", [
    pytest.param("0", f"hydra.launcher: {VALID}, not 0.0", id="zero"),
    pytest.param("-1", f"hydra.launcher: {VALID}, not -1.0", id="negative"),
    pytest.param("inf", f"hydra.launcher: {VALID}, not inf", id="infinite"),
    pytest.param("nan", f"hydra.launcher: {VALID}, not nan", id="nan"),
    # A typed field: OmegaConf refuses text itself, as it does for max_parallel=abc.
    pytest.param("abc", "Value 'abc' of type 'str' could not be converted to Float\n"
                        "    full_key: hydra.launcher.timeout_min", id="text"),
])
def test_a_bad_timeout_is_one_message(tmp_path, value, message):
    app = _app(tmp_path)
    result = multirun(app, f"hydra.launcher.timeout_min={value}", "+s=0")
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and not (app / "sweep").exists()
