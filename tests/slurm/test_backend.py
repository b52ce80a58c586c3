"""The slurm backend on the real local cluster: arrays, packing, splitting, failures, cancel, requeue."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import copy_example_app
from hydraflow_core import manifest

from slurm.conftest import sacct_rows

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))


@pytest.fixture
def app(tmp_path, slurm_cluster):
    return copy_example_app(tmp_path)


def sweep(app: Path, *overrides: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", "-m", "hydra/launcher=hydraflow_slurm",
                           f"hydra.sweep.dir={app / 'sweep'}", *overrides],
                          cwd=app, capture_output=True, text=True, timeout=timeout)


def arrays(app: Path) -> list:
    return [json.loads(line) for line in (app / "sweep" / ".hydraflow" / "slurm.jsonl").read_text().splitlines()]


def results(app: Path) -> dict:
    out = {}
    for path in (app / "sweep").glob("*/result.json"):
        out[int(path.parent.name)] = json.loads(path.read_text())["cfg"]
    return out


def test_a_sweep_goes_out_as_packed_array_tasks(app):
    result = sweep(app, "seed=0:11", "hydra.launcher.runs_per_task=5")
    assert result.returncode == 0, result.stderr
    assert "12 runs as 3 Slurm array tasks in 1 array(s)" in result.stderr + result.stdout
    assert {n: cfg["seed"] for n, cfg in results(app).items()} == {n: n for n in range(12)}
    (array,) = arrays(app)
    assert array["tasks_runs"] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    rows = sacct_rows(array["job_id"], count=3)
    assert sorted(job for job, _ in rows) == [f"{array['job_id']}_{i}" for i in range(3)]
    assert {state for _, state in rows} == {"COMPLETED"}
    state = manifest.read(app / "sweep")
    assert state.complete
    assert [r.job_id for r in state.runs] == [f"{array['job_id']}_{n // 5}" for n in range(12)]
    status = subprocess.run([HYDRAFLOW, "status", str(app / "sweep")], capture_output=True, text=True)
    assert status.returncode == 0 and "12 runs — 12 completed" in status.stdout


def test_array_parallelism_and_the_kept_sbatch_script(app):
    result = sweep(app, "seed=0:3", "hydra.launcher.slurm.array_parallelism=2")
    assert result.returncode == 0, result.stderr
    (array,) = arrays(app)
    script = Path(array["script"]).read_text()
    assert "#SBATCH --array=0-3%2" in script
    assert Path(array["script"]).parent == app / "sweep" / ".hydraflow" / "slurm"


def test_an_array_larger_than_max_array_size_is_split(app):
    result = sweep(app, "seed=0:11", "hydra.launcher.slurm.max_array_size=5")
    assert result.returncode == 0, result.stderr
    submitted = arrays(app)
    assert [(a["tasks_runs"][0][0], a["tasks"]) for a in submitted] == [(0, 5), (5, 5), (10, 2)]
    assert [a["task_ids"] for a in submitted] == [[f"{a['job_id']}_{i}" for i in range(a["tasks"])]
                                                  for a in submitted]
    assert ["#SBATCH --array=0-4%5" in Path(a["script"]).read_text() for a in submitted[:2]] == [True, True]
    assert "#SBATCH --array=0-1%2" in Path(submitted[2]["script"]).read_text()
    assert sorted(results(app)) == list(range(12))


def test_the_clusters_own_max_array_size_is_read(app, slurm_restart):
    with slurm_restart(max_array_size=5):
        result = sweep(app, "seed=0:11")
    assert result.returncode == 0, result.stderr
    assert [a["tasks"] for a in arrays(app)] == [5, 5, 2]
    assert sorted(results(app)) == list(range(12))


def test_a_failing_run_fails_alone_with_its_job_id(app):
    result = sweep(app, "fail=false,true", "seed=0:1")
    assert result.returncode == 1
    assert sorted(results(app)) == [0, 1]
    (array,) = arrays(app)
    assert "hydraflow: 2 of 4 runs failed (2 completed):" in result.stderr
    assert f"  #2 fail=true seed=0\n      RuntimeError: failing on purpose (fail=True)\n" \
           f"      slurm job: {array['job_id']}_2\n      log: {app / 'sweep' / '2' / 'train.log'}\n" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_cancelled_task_is_reported_and_the_rest_finish(app):
    process = subprocess.Popen([sys.executable, "train.py", "-m", "hydra/launcher=hydraflow_slurm",
                                f"hydra.sweep.dir={app / 'sweep'}", "seed=0:2", "sleep=0,8"],
                               cwd=app, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (app / "sweep" / ".hydraflow" / "slurm.jsonl").exists() or not any(
            (app / "sweep").glob("[0-9]*/.hydra")):
        assert time.time() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.2)
    (array,) = arrays(app)
    # sleep varies fastest: the odd runs sleep; one array task per run.
    slow = [n for n, runs in enumerate(array["tasks_runs"]) if runs[0] % 2 == 1]
    target = f"{array['job_id']}_{slow[0]}"
    number = array["tasks_runs"][slow[0]][0]
    # The run itself has started, not only its task: a task cancelled while the app still starts leaves it "not run".
    while "RUNNING" not in subprocess.run(["squeue", "-h", "-j", target, "-o", "%T"], capture_output=True,
                                          text=True).stdout or not manifest.read(app / "sweep").runs[number].started:
        assert time.time() < deadline
        time.sleep(0.2)
    subprocess.run(["scancel", target], check=True)
    out, err = process.communicate(timeout=240)
    assert process.returncode == 1, err
    # Stopped by Slurm's SIGTERM, the run recorded itself as interrupted; Slurm says why.
    assert f"#{number} seed=0 sleep=8\n      Slurm says task {target} ended (CANCELLED)" in err, err
    assert sorted(results(app)) == sorted(set(range(6)) - {number})  # every other run finished
    rows = dict(sacct_rows(array["job_id"], count=len(array["tasks_runs"])))
    assert rows[target].startswith("CANCELLED")


LOCKED_APP = '''
import threading
import hydra
from pathlib import Path
from hydra.core.hydra_config import HydraConfig

LOCK = threading.Lock()  # unpicklable, module level: hydra-submitit-launcher cannot send this task
LOG = open(__file__ + ".log", "a")


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    with LOCK:
        out = Path(HydraConfig.get().runtime.output_dir)
        (out / "done.txt").write_text(str(cfg.x))
    return cfg.x


if __name__ == "__main__":
    main()
'''


def test_an_unpicklable_task_function_runs_as_it_does_locally(tmp_path, slurm_cluster):
    (tmp_path / "app.py").write_text(LOCKED_APP)
    result = subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow_slurm",
                             f"hydra.sweep.dir={tmp_path / 'sweep'}", "+x=1,2,3"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert sorted((tmp_path / "sweep" / d / "done.txt").read_text() for d in "012") == ["1", "2", "3"]
    state = manifest.read(tmp_path / "sweep")
    assert [r.extra.get("return_value") for r in state.runs] == [1, 2, 3]


def test_a_bad_slurm_field_is_one_message(app):
    result = sweep(app, "seed=0:1", "+hydra.launcher.slurm.partion=debug")
    assert result.returncode == 1
    assert "hydra.launcher: slurm.partion: unknown field (did you mean 'partition'?); valid fields: account," \
           in result.stderr
    assert not (app / "sweep" / ".hydraflow" / "slurm.jsonl").exists()


REQUEUE_APP = '''
import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    out = Path(HydraConfig.get().runtime.output_dir)
    with open(out / "starts.txt", "a") as f:
        f.write(os.environ.get("SLURM_RESTART_COUNT", "0") + "\\n")
    marker = out.parent / "slow-once"
    if cfg.x == 1 and not marker.exists():
        marker.write_text("")
        time.sleep(200)  # longer than the task may run: the time-limit signal comes first
    return cfg.x


if __name__ == "__main__":
    main()
'''


def test_a_timed_out_task_is_requeued_and_runs_only_what_had_not_completed(tmp_path, slurm_cluster):
    (tmp_path / "app.py").write_text(REQUEUE_APP)
    result = subprocess.run(
        [sys.executable, "app.py", "-m", "hydra/launcher=hydraflow_slurm", f"hydra.sweep.dir={tmp_path / 'sweep'}",
         "+x=0,1,2", "hydra.launcher.runs_per_task=3", "hydra.launcher.slurm.timeout_min=2",
         # Slurm looks at signals every ~30 s: the warning comes 20-50 s in, well before the limit.
         "hydra.launcher.slurm.signal_delay_s=100", "hydra.launcher.slurm.max_num_timeout=2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=420)
    assert result.returncode == 0, result.stderr
    starts = {n: (tmp_path / "sweep" / str(n) / "starts.txt").read_text().split() for n in range(3)}
    assert starts[0] == ["0"], "a completed run ran again after the requeue"
    assert starts[1] == ["0", "1"], "the interrupted run was not run again"
    assert starts[2] == ["1"], "the run after the interrupted one did not run once, after the requeue"
    assert manifest.read(tmp_path / "sweep").complete


def test_ctrl_c_while_waiting_cancels_nothing(app):
    process = subprocess.Popen([sys.executable, "train.py", "-m", "hydra/launcher=hydraflow_slurm",
                                f"hydra.sweep.dir={app / 'sweep'}", "seed=0:1", "sleep=5"],
                               cwd=app, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (app / "sweep" / ".hydraflow" / "slurm.jsonl").exists():
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    # The runs sleep 5 s: none had ended. The commands name the sweep as given, relative to where it started.
    assert ("hydraflow: stopped waiting after 0 of 2 runs ended; the sweep goes on on the cluster\n"
            "every run's state: hydraflow status sweep\n"
            "run again what did not complete: hydraflow retry sweep\n"
            "cancel what has not ended: hydraflow cancel sweep\n") in err, err
    assert "Traceback" not in err
    (array,) = arrays(app)
    rows = sacct_rows(array["job_id"], count=2, timeout=120)
    assert {state for _, state in rows} == {"COMPLETED"}, rows
    assert sorted(results(app)) == [0, 1]


def test_your_own_cluster_option_extends_hydraflow_slurm(app):
    (app / "conf" / "hydra" / "launcher" / "mycluster.yaml").write_text(
        "defaults:\n  - hydraflow_slurm\n\nruns_per_task: 2\nslurm:\n  partition: debug\n  timeout_min: 5\n"
        "  job_name: mine\n")
    result = subprocess.run([sys.executable, "train.py", "-m", "hydra/launcher=mycluster",
                             f"hydra.sweep.dir={app / 'sweep'}", "seed=0:3"],
                            cwd=app, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    (array,) = arrays(app)
    script = Path(array["script"]).read_text()
    assert "#SBATCH --partition=debug" in script and "#SBATCH --time=5" in script
    assert "#SBATCH --job-name=mine" in script and "#SBATCH --array=0-1%2" in script
    assert sorted(results(app)) == [0, 1, 2, 3]


def test_a_resumed_sweep_on_slurm_submits_only_its_new_runs(app):
    assert sweep(app, "seed=0,1").returncode == 0
    result = sweep(app, "seed=0:2", "hydra.launcher.resume=true")
    assert result.returncode == 0, result.stderr
    first, second = arrays(app)
    assert first["tasks_runs"] == [[0], [1]] and second["tasks_runs"] == [[2]]
    assert {n: cfg["seed"] for n, cfg in results(app).items()} == {0: 0, 1: 1, 2: 2}
    state = manifest.read(app / "sweep")
    assert state.complete and [r.starts for r in state.runs] == [1, 1, 1]
    assert [r.job_id.split("_")[0] for r in state.runs] == [first["job_id"], first["job_id"], second["job_id"]]
