"""The plugin on example_app, run as users run it: `python train.py -m ...` in a subprocess."""

from __future__ import annotations

import contextlib
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


def test_sweeper_takes_the_sets_of_a_hydraflow_023_job(app):
    """example_app's `original` job, in HydraFlow 0.23's schema: a set's add merged over the job's."""
    result = multirun(app, "hydra/sweeper=hydraflow", "hydra.sweeper.job=original")
    assert result.returncode == 0, result.stderr
    assert "5 runs in 3 batch group(s)" in result.output
    assert overrides(app) == [  # hydra.job.chdir=false is one of Hydra's own: not in a run's overrides
        *([f"model={m}", f"learning_rate={lr}", "seed=1"] for m in ("small", "large") for lr in (0.1, 0.2)),
        ["model=large", "seed=2"]]


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
    assert result.stderr.endswith(
        f"      log: {app / 'sweep' / '3' / 'train.log'}\n"
        "The traceback of a failed run is at the end of its log.\n"
        "every run's state: hydraflow status sweep\n"
        "run again what did not complete: hydraflow retry sweep\n")
    assert "HYDRA_FULL_ERROR" not in result.stderr
    assert "Traceback" not in result.stderr.split("hydraflow: 2 of 6")[1]
    assert "RuntimeError: failing on purpose" in (app / "sweep" / "3" / "train.log").read_text()


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
    assert result.output.count("hydraflow: optimizer=1:3,adam means 4 values in hydraflow's sweep syntax, but Hydra's "
                               "basic sweeper (hydra/sweeper=basic) makes 2 of it and passes extended values to the "
                               "runs as text: leave out hydra/sweeper=basic, or use hydraflow sweep -- COMMAND ARGS "
                               "(it expands ARGS before Hydra sees them)") == 1
    # Hydra's own reading: '1:3' is a string, not a range.
    assert overrides(app) == [["optimizer=1\\:3", "seed=0"], ["optimizer=1\\:3", "seed=1"],
                              ["optimizer=adam", "seed=0"], ["optimizer=adam", "seed=1"]]


def test_an_explicit_basic_sweeper_with_hydras_own_sweeps_gives_no_warning(app):
    result = multirun(app, "hydra/sweeper=basic", "seed=range(0,2)", "optimizer=adam,sgd", "learning_rate=0.5")
    assert result.returncode == 0, result.stderr
    assert "hydraflow sweep" not in result.output and len(runs(app)) == 4


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


GPU_IDS = "gpus must hold GPU ids: whole numbers (0, 1, ...) or GPU UUIDs (GPU-..., MIG-...)"
BATCH_SIZE = ("max_batch_size must be a whole number of at least 1, or null (the default: each batch group "
              "streamed 1000 runs at a time)")


@pytest.mark.parametrize("setting, message", [
    pytest.param("hydra.launcher.max_parallel=0",
                 "hydra.launcher: max_parallel must be a whole number of at least 1, not 0", id="max_parallel=0"),
    pytest.param("hydra.launcher.gpus=[a,b]", f"hydra.launcher: {GPU_IDS}, not 'a', 'b'", id="gpus-names"),
    pytest.param("hydra.launcher.gpus=[[0]]", f"hydra.launcher: {GPU_IDS}, not [0]", id="gpus-nested"),
    pytest.param("hydra.launcher.gpus=[-1]", f"hydra.launcher: {GPU_IDS}, not -1", id="gpus-negative"),
    pytest.param("+hydra.launcher.max_paralel=2", "hydra.launcher: max_paralel: unknown field (did you mean "
                 "'max_parallel'?); valid fields: backend, max_parallel, gpus, runs_per_task, parallel_per_task, "
                 "start, wait, resume, dry_run, max_retries, timeout_min, lean, slurm", id="launcher-field-misspelt"),
    pytest.param("+hydra.sweeper.parms={x:1}", "hydra.sweeper: parms: unknown field (did you mean 'params'?); valid "
                 "fields: params, job, file, max_batch_size", id="sweeper-field-misspelt"),
    pytest.param("hydra.sweeper.max_batch_size=-1", f"hydra.sweeper: {BATCH_SIZE}, not -1", id="max_batch_size=-1"),
    pytest.param("hydra.sweeper.max_batch_size=0", f"hydra.sweeper: {BATCH_SIZE}, not 0", id="max_batch_size=0"),
    pytest.param("hydra.sweeper.job=''", "hydra.sweeper: job must be a name (text) or null, not ''",
                 id="job-empty"),
])
def test_bad_plugin_setting_is_one_message(app, setting, message):
    result = multirun(app, "hydra/sweeper=hydraflow", setting, "seed=0,1")
    assert result.returncode == 1
    assert result.stderr.startswith(message + "\n")
    assert "Traceback" not in result.stderr and not (app / "sweep").exists()


@pytest.mark.parametrize("gpus, devices, warning", [
    pytest.param("[3,5]", ["3", "5"], None, id="indices"),
    pytest.param("[GPU-8f3a,MIG-1c2d]", ["GPU-8f3a", "MIG-1c2d"], None, id="uuids"),
    pytest.param("[0,0]", ["0", "0"], "hydra.launcher.gpus names 0 more than once", id="repeated"),
])
def test_gpu_ids(app, gpus, devices, warning):
    result = multirun(app, "hydra.launcher.max_parallel=2", f"hydra.launcher.gpus={gpus}", "seed=0,1", "sleep=0.3")
    assert result.returncode == 0, result.stderr
    assert sorted(r["cuda_visible_devices"] for _, _, r in runs(app)) == devices
    assert (warning in result.output) if warning else ("more than once" not in result.output)


def test_missing_job_file_names_the_sweeper_setting(app):
    (app / "hydraflow.yaml").unlink()
    result = multirun(app, "hydra/sweeper=hydraflow", "hydra.sweeper.job=train")
    assert result.returncode == 1
    assert (f"hydraflow: no hydraflow.yaml in {app} for hydra.sweeper.job=train "
            "(write one, or give its path with hydra.sweeper.file=PATH)\n") in result.stderr
    result = multirun(app, "hydra/sweeper=hydraflow", "hydra.sweeper.job=train", "hydra.sweeper.file=jobs.yaml")
    assert f"hydraflow: hydra.sweeper.file=jobs.yaml: no such file (in {app})\n" in result.stderr


@pytest.mark.parametrize("seed, value, warning, sweeper", [
    pytest.param("1:30", 90, "hydra.sweeper.params.seed is the number 90: YAML 1.1 reads the unquoted 1:30 in "
                 "{file} as a base-60 number; for a range quote it ('1:30')", "hydraflow", id="unquoted-range"),
    pytest.param("1:30", 90, "hydra.sweeper.params.seed is the number 90: YAML 1.1 reads the unquoted 1:30 in "
                 "{file} as a base-60 number; for a range quote it ('1:30')", None,
                 id="unquoted-range-through-the-launchers-swap"),
    pytest.param("100", 100, None, "hydraflow", id="ordinary-count"),
    pytest.param("90", 90, None, "hydraflow", id="count-that-is-also-1:30"),
    pytest.param("100", 100, None, None, id="ordinary-count-through-the-launchers-swap"),
])
def test_params_in_a_config_file_and_the_yaml_base_60_warning(app, seed, value, warning, sweeper):
    chosen = "  - override hydra/sweeper: hydraflow\n" if sweeper else ""
    (app / "conf" / "sweep.yaml").write_text(
        f"defaults:\n  - config\n{chosen}  - _self_\n"
        f"hydra:\n  sweeper:\n    params:\n      learning_rate: '0:1:#3'\n      seed: {seed}\n")
    result = subprocess.run([sys.executable, "train.py", "--config-name", "sweep", "-m", "hydra.sweep.dir=sweep"],
                            cwd=app, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stderr
    if warning:
        assert warning.format(file=app / "conf" / "sweep.yaml") in output
    else:
        assert "base-60" not in output
    assert overrides(app) == [[f"learning_rate={lr}", f"seed={value}"] for lr in ("0.0", "0.5", "1.0")]


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
    assert "  #1 crash=true seed=0\n      the worker running #1 died (exit code 3)\n" in result.stderr
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
    assert process.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[sig]
    if sig != signal.SIGKILL:
        assert "hydraflow: interrupted after 0 of 4 runs (0 failed)" in err
        assert "Traceback" not in out + err
    deadline = time.time() + 5
    while _pids(marker) and time.time() < deadline:
        time.sleep(0.1)
    assert _pids(marker) == []


def _pids(marker: str) -> list:
    return pids_running(marker)


@pytest.mark.parametrize("override, expected", [
    pytest.param("model=glob(*)", [["model=large"], ["model=small"]], id="glob-all"),
    pytest.param("model=glob(include=[s*,l*],exclude=large)", [["model=small"]], id="glob-include-exclude"),
    pytest.param("+model@extra=glob(s*)", [["+model@extra=small"]], id="glob-with-package"),
])
def test_glob_picks_the_options_of_a_config_group(app, override, expected):
    result = multirun(app, override)
    assert result.returncode == 0, result.stderr
    assert overrides(app) == expected
    for _, run_overrides, result_json in runs(app):
        node = "extra" if "@extra" in run_overrides[0] else "model"
        assert result_json["cfg"][node]["name"] == run_overrides[0].rsplit("=", 1)[1]


@pytest.mark.parametrize("override, message", [
    pytest.param("model=glob(x*)",
                 "hydraflow: glob() matches no option of config group 'model' in override\n"
                 "    model=glob(x*)\n          ^\nhint: the options are: large, small\n", id="glob-no-match"),
    pytest.param("seed=glob(*)",
                 "hydraflow: glob() needs a config group, and 'seed' is not one in override\n"
                 "    seed=glob(*)\n         ^\nhint: glob() picks options of a config group by name, "
                 "e.g. model=glob(*)\n", id="glob-not-a-group"),
    pytest.param("learning_rate=interval(0,1)",
                 "hydraflow: interval() is sampled by an optimizing sweeper, not run as a list of values in "
                 "override\n    learning_rate=interval(0,1)\n                  ^\nhint: use an optimizing sweeper "
                 "(hydra/sweeper=optuna, nevergrad or ax) for it, or list values for hydraflow, e.g. "
                 "learning_rate=0:1:0.25\n", id="interval"),
])
def test_hydra_functions_the_sweeper_cannot_run(app, override, message):
    result = multirun(app, override)
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("override, expected", [
    pytest.param("learning_rate='0.1,0.2|seed=3'", [["learning_rate=0.1"], ["learning_rate=0.2"], ["seed=3"]],
                 id="whole-value-quoted"),
    pytest.param('learning_rate="0.1|seed=3,4"', [["learning_rate=0.1"], ["seed=3"], ["seed=4"]],
                 id="double-quotes"),
    pytest.param("learning_rate=0.1,'0.2|seed=3'", [["learning_rate=0.1"], ["learning_rate=0.2"], ["seed=3"]],
                 id="last-item-quoted"),
])
def test_a_keyed_pipe_quoted_for_hydra(app, override, expected):
    result = multirun(app, override)
    assert result.returncode == 0, result.stderr
    assert "runs in 2 batch group(s)" in result.output
    assert overrides(app) == expected
    assert [r["cfg"]["seed"] for _, _, r in runs(app)][-1] == int(expected[-1][0].split("=")[1])


def test_a_keyed_pipe_unquoted_is_rejected_by_hydra(app):
    result = multirun(app, "learning_rate=0.1,0.2|seed=3")
    assert result.returncode == 1
    # Hydra's cause as its own line (Hydra 1.4 puts "Error when parsing index: ..." before it).
    assert "mismatched input '=' expecting <EOF>" in result.stderr.splitlines()
    assert not (app / "sweep").exists()


def test_a_quoted_unkeyed_pipe_is_one_string_with_a_warning(app):
    result = multirun(app, "optimizer='adam|sgd'")
    assert result.returncode == 0, result.stderr
    assert ("hydraflow: optimizer='adam|sgd' sets one string with '|' in it (it is quoted); "
            "for a pipe write it unquoted for Hydra: optimizer=adam|sgd") in result.output
    assert [r["cfg"]["optimizer"] for _, _, r in runs(app)] == ["adam|sgd"]


@pytest.mark.parametrize("override, warning", [
    pytest.param("learning_rate=1:3", "learning_rate=1:3 means 3 values", id="range"),
    pytest.param("optimizer=adam|sgd", "optimizer=adam|sgd means a pipe of 2 sub-sweeps", id="pipe"),
    pytest.param("learning_rate=0.5", None, id="plain-value"),
    pytest.param("optimizer='1:3'", None, id="quoted-text"),
])
def test_a_single_run_warns_about_extended_values(app, override, warning):
    result = subprocess.run([sys.executable, "train.py", "hydra.run.dir=single", override],
                            cwd=app, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    if warning:
        assert (f"hydraflow: {warning} in hydraflow's sweep syntax, but without -m Hydra runs once with the "
                "text as written: add -m (--multirun) to sweep, or use hydraflow sweep -- COMMAND ARGS (it expands "
                "ARGS before Hydra sees them)") in output
    else:
        assert "hydraflow:" not in output
    assert (app / "single").is_dir()


def test_no_more_workers_than_batches(app):
    marker = uuid.uuid4().hex
    process = subprocess.Popen([sys.executable, "train.py", "-m", "hydra.sweep.dir=sweep",
                                "hydra.launcher.max_parallel=16", "seed=0,1", "sleep=1.5", f"+marker={marker}"],
                               cwd=app, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    most = 0
    while process.poll() is None:
        most = max(most, len(_pids(marker)))
        time.sleep(0.05)
    out, err = process.communicate()
    assert process.returncode == 0, err
    assert most == 3  # the parent and one worker per run
    assert "Launching 2 jobs locally on 2 workers" in out + err
    assert len({r["pid"] for _, _, r in runs(app)}) == 2


@pytest.mark.parametrize("parallel", [pytest.param(1, id="in-process"), pytest.param(2, id="two-workers")])
def test_ctrl_c_at_random_moments_counts_every_finished_run(app, parallel):
    import os
    import random
    import re
    import shutil

    rng = random.Random(parallel)  # seeded: a failing attempt can be replayed
    for attempt in range(8):
        shutil.rmtree(app / "sweep", ignore_errors=True)
        process = subprocess.Popen(
            [sys.executable, "train.py", "-m", "hydra.sweep.dir=sweep", f"hydra.launcher.max_parallel={parallel}",
             "seed=0:9", "sleep=0.1"],
            cwd=app, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        while not (app / "sweep" / "0").exists() and process.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.5))
        for _ in range(rng.randint(1, 3)):  # Ctrl-C reaches the whole process group, maybe more than once
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            time.sleep(rng.uniform(0, 0.05))
        out, err = process.communicate(timeout=60)
        finished = len(list((app / "sweep").glob("*/result.json")))
        assert "Traceback" not in out + err and "Exception ignored" not in out + err, (attempt, err)
        if process.returncode == 0:  # the sweep ended before the signal
            assert finished == 10
            continue
        assert process.returncode == 130, (attempt, err)
        said = re.search(r"hydraflow: interrupted after (\d+) of 10 runs \(0 failed\)\n", err)
        from hydraflow_core import manifest

        completed = manifest.read(app / "sweep").counts().get("completed", 0)
        assert said and int(said.group(1)) == completed, (attempt, completed, err)
        # A run stopped between writing its result file and returning is interrupted, not finished: at most one
        # per worker has a result file without being counted.
        assert completed <= finished <= completed + parallel, (attempt, finished, completed, err)


TYPED_APP = '''
from dataclasses import dataclass, field
from typing import Any, List

import hydra
from hydra.core.config_store import ConfigStore


@dataclass
class Config:
    defaults: List[Any] = field(default_factory=lambda: [{"model": "small"}, "_self_"])
    batch_size: int = 8
    lr: float = 0.1
    model: Any = None


ConfigStore.instance().store(name="config", node=Config)
ConfigStore.instance().store(group="model", name="small", node={"name": "small"})
ConfigStore.instance().store(group="model", name="large", node={"name": "large"})


@hydra.main(version_base="1.3", config_name="config")
def main(cfg):
    pass


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("override, message", [
    pytest.param("batch_size=1.0,7",
                 "hydraflow: the run batch_size=1.0 cannot be composed:\n"
                 "Error merging override batch_size=1.0\n"
                 "Value '1.0' of type 'float' could not be converted to Integer\n"
                 "    full_key: batch_size\n    object_type=Config\n"
                 "hint: 'batch_size' is an int: write whole numbers without a point (1, not 1.0)\n",
                 id="float-on-int"),
    pytest.param("lr=x,1",
                 "hydraflow: the run lr=x cannot be composed:\n"
                 "Error merging override lr=x\n"
                 "Value 'x' of type 'str' could not be converted to Float\n"
                 "    full_key: lr\n    object_type=Config\n",  # no hint (OmegaConf 2.4 ends without a blank line)
                 id="text-on-float"),
    pytest.param("lr=choice(1:5)",
                 "hydraflow: the run lr=1\\:5 cannot be composed:\n"
                 "Error merging override lr=1\\:5\n"
                 "Value '1:5' of type 'str' could not be converted to Float\n"
                 "    full_key: lr\n    object_type=Config\n"
                 "hint: 'lr' is typed and 1:5 reached it as text (quoted, escaped, or inside a Hydra function); "
                 "to sweep 1:5, use hydraflow sweep -- COMMAND lr=1:5 ..., or put it in hydra.sweeper.params "
                 "(+hydra.sweeper.params.lr=1:5 with hydra/sweeper=hydraflow) or in a job definition, or write it "
                 "unquoted beside another value (lr=1:5,OTHER) (README: The typed-config rule)\n",
                 id="extended-value-as-text"),
    pytest.param("lr='1:3',5",
                 "hint: 'lr' is typed and 1:3 reached it as text (quoted, escaped, or inside a Hydra function); "
                 "to sweep 1:3, use hydraflow sweep",
                 id="quoted-extended-value-hint-unquoted"),
    pytest.param("lr=1m,3m",  # the hint says what works (not lr=1m,OTHER: that is what was written)
                 "hint: 'lr' is typed, and 1m is text (an SI letter scales only a range, N:S or KEY/S): write 1:m for "
                 "this one value, or lr/m=1,... to scale every value of the list by m (README: SI letters)\n",
                 id="si-letter-as-text"),
    pytest.param("lr=1m:2m,10m",  # composed mid-sweep (the first run validated the sweep): Hydra's reason kept
                 "#2 cannot be composed: Error merging override lr=10m: Value '10m' of type 'str' could not be "
                 "converted to Float (full_key: lr, object_type=Config)\nhint: 'lr' is typed, and 10m is text",
                 id="mid-sweep-keeps-hydras-reason"),
    pytest.param("lr=1m:2m,10m",
                 "  #2 lr=10m\n      cannot be composed: Error merging override lr=10m: Value '10m' of type 'str' "
                 "could not be converted to Float (full_key: lr, object_type=Config)\n",
                 id="mid-sweep-summary-keeps-hydras-reason"),
    pytest.param("model=small,'a|b'",
                 "hint: 'model' is a config group: a value Hydra reads as one text is not a sweep of its options; "
                 "write model=a,b, or use hydraflow sweep -- COMMAND ARGS or a job definition "
                 "(README: The typed-config rule)\n",
                 id="extended-value-on-a-group"),
])
def test_composition_errors_keep_hydras_reason(tmp_path, override, message):
    (tmp_path / "app.py").write_text(TYPED_APP)
    result = subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep",
                             override], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert message in result.stdout + result.stderr  # a run composed mid-sweep: logged (stdout), then the summary
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("override", [
    pytest.param("lr=1:m,3:m", id="N:S"),
    pytest.param("lr/m=1,3", id="KEY/S"),
])
def test_what_the_si_letter_hint_suggests_works(tmp_path, override):
    (tmp_path / "app.py").write_text(TYPED_APP.replace("    pass", "    print(f'lr={cfg.lr!r}')"))
    result = subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep",
                             override], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("lr=")] == ["lr=0.001", "lr=0.003"]
