"""`hydraflow sweep` on the local Slurm cluster: a typed app's runs as array tasks, then a retry of one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))
TYPED_APP = Path(__file__).resolve().parents[1] / "fixtures" / "typed_app" / "train.py"


def test_a_typed_apps_sweep_on_slurm_and_its_retry(tmp_path, slurm_cluster):
    shutil.copy(TYPED_APP, tmp_path / "train.py")
    args = ["lr=1m:2m", "batch_size=16|model=big", "fail_num=2", "hydra/launcher=hydraflow_slurm",
            "hydra.launcher.runs_per_task=2", "hydra.sweep.dir=sweep"]
    result = subprocess.run([HYDRAFLOW, "sweep", "--", sys.executable, "train.py", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("hydraflow: 4 runs in 2 batch group(s)\n")
    assert "4 runs as 2 Slurm array tasks in 1 array(s)" in result.stdout
    retried = subprocess.run([HYDRAFLOW, "retry", "sweep", "--wait"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=240)
    assert retried.returncode == 0, retried.stderr
    status = subprocess.run([HYDRAFLOW, "status", "sweep", "--json"], cwd=tmp_path, capture_output=True, text=True)
    assert json.loads(status.stdout)["counts"] == {"completed": 4}
    seen = [json.loads((tmp_path / "sweep" / str(n) / "result.json").read_text()) for n in range(4)]
    assert [(s["lr"], s["batch_size"], s["model"]) for s in seen] == [
        (0.001, 16, "small"), (0.002, 16, "small"), (0.001, 8, "big"), (0.002, 8, "big")]
