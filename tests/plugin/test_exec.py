"""hydra.launcher.start=exec: every task in a fresh interpreter, through the replay path."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hydraflow_core import manifest

APP = '''
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig

IMPORTED_IN = os.getpid()  # as an app that initialises CUDA at import: fork would break it


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    if cfg.x == 3:
        os._exit(5)  # the whole process ends
    if cfg.x == 4:
        raise RuntimeError("failing on purpose")
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "where.txt").write_text(f"{os.getpid() == IMPORTED_IN} {os.getpid()}")
    return cfg.x * 10


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("start, fresh", [pytest.param("exec", "True", id="exec"),
                                          pytest.param("fork", "False", id="fork")])
def test_exec_starts_each_task_in_a_fresh_interpreter(tmp_path, start, fresh):
    (tmp_path / "app.py").write_text(APP)
    result = subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep",
                             f"hydra.launcher.start={start}", "hydra.launcher.max_parallel=2", "+x=0,1,2"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    where = [(tmp_path / "sweep" / str(n) / "where.txt").read_text().split() for n in range(3)]
    assert [w[0] for w in where] == [fresh] * 3
    state = manifest.read(tmp_path / "sweep")
    assert [r.extra.get("return_value") for r in state.runs] == [0, 10, 20]


def test_exec_failures_and_a_dying_interpreter_fail_only_their_runs(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    result = subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep",
                             "hydra.launcher.start=exec", "hydra.launcher.max_parallel=2", "+x=2,3,4,5"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "hydraflow: 2 of 4 runs failed (2 completed):" in result.stderr
    assert "  #1 +x=3\n      the worker process ended (exit code 5) before run #1 ended" in result.stderr
    assert "  #2 +x=4\n      RuntimeError: failing on purpose\n" in result.stderr
    states = [r.state for r in manifest.read(tmp_path / "sweep").runs]
    assert states[0] == states[3] == "completed" and states[2] == "failed"


def test_a_bad_start_is_one_message(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    result = subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep",
                             "hydra.launcher.start=spawn", "+x=0"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "hydra.launcher: start must be one of: fork, exec, not 'spawn'" in result.stderr
