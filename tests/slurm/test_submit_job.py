"""The `submit` job kind for real: example_app's `train_array` job through the local cluster's own `sbatch`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import copy_example_app
from slurm.conftest import sacct_rows

BIN = Path(sys.executable).parent
HYDRAFLOW = str(BIN / "hydraflow")


def test_train_array_goes_out_as_one_slurm_array_whose_tasks_run_one_batch_each(tmp_path, slurm_cluster):
    app = copy_example_app(tmp_path)
    # `python` in submit_array.sh must be this environment's: sbatch passes the environment on to the tasks.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([HYDRAFLOW, "run", "train_array"], cwd=app, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    submitted = re.findall(r"^Submitted batch job (\d+)$", result.stdout, re.M)
    assert len(submitted) == 1, result.stdout  # one sbatch call for both batches
    job = submitted[0]
    rows = sacct_rows(job, count=2, timeout=180)  # the array's two tasks, once both have ended
    assert sorted(rows) == [(f"{job}_0", "COMPLETED"), (f"{job}_1", "COMPLETED")]

    (run_dir,) = (app / "multirun" / "train_array").iterdir()
    batches = {"0-model-small": ("small", f"{job}_0"), "1-model-large": ("large", f"{job}_1")}
    assert sorted(p.name for p in run_dir.iterdir() if p.is_dir()) == sorted(batches)
    for name, (model, task) in batches.items():
        batch = run_dir / name
        runs = sorted((p for p in batch.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        assert [yaml.safe_load((r / ".hydra" / "overrides.yaml").read_text()) for r in runs] == [
            [f"model={model}", f"learning_rate={lr}"] for lr in ("0.001", "0.002", "0.003")]
        for run, lr in zip(runs, (0.001, 0.002, 0.003)):
            cfg = json.loads((run / "result.json").read_text())["cfg"]
            assert (cfg["model"]["name"], cfg["learning_rate"]) == (model, lr)
        # Each batch ran inside its own array task: its runs' start records name it (SLURM_ARRAY_* ids).
        starts = [json.loads(line) for path in (batch / ".hydraflow" / "events").iterdir()
                  for line in path.read_text().splitlines()]
        assert sorted((e["run"], e["job_id"]) for e in starts if e["event"] == "start") == [
            (n, task) for n in range(3)]
