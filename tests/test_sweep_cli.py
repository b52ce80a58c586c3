"""`hydraflow sweep -- COMMAND ARGS...`: ARGS taken apart (tables), and a real app with a typed config."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hydraflow_core.cli.sweep import plan_launch, split_command
from hydraflow_core.errors import UsageError
from hydraflow_core.jobs.shell import join as shell_join
from hydraflow_core.syntax import parse_sweep

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))
TYPED_APP = Path(__file__).parent / "fixtures" / "typed_app" / "train.py"
PY = sys.executable
SELECTED = ["-m", "hydra/launcher=hydraflow", "hydra/sweeper=hydraflow"]


@pytest.mark.parametrize("words, command, hydra, overrides", [
    pytest.param(["python", "train.py", "lr=1:3"], ["python", "train.py"], [], ["lr=1:3"], id="plain"),
    pytest.param(["python", "train.py", "-m", "lr=1:3", "--multirun"], ["python", "train.py"], [], ["lr=1:3"],
                 id="hydras-m-dropped"),
    pytest.param(["python", "-m", "pkg.train", "lr=1:3"], ["python", "-m", "pkg.train"], [], ["lr=1:3"],
                 id="pythons-m-kept"),
    pytest.param(["python", "train.py", "-cn", "big", "lr=1", "--config-path", "conf", "b=2"],
                 ["python", "train.py", "-cn", "big"], ["--config-path", "conf"], ["lr=1", "b=2"],
                 id="hydra-options-with-values"),
    pytest.param(["./train.py", "hydra/launcher=hydraflow_slurm", "+hydra.sweeper.params.x=1:2",
                  "hydra.launcher.slurm.partition=gpu", "~db", "a=(1,2)"],
                 ["./train.py"], ["hydra/launcher=hydraflow_slurm", "+hydra.sweeper.params.x=1:2",
                                  "hydra.launcher.slurm.partition=gpu"], ["~db", "a=(1,2)"],
                 id="hydra-settings-untouched"),
    pytest.param(["python", "train.py", "lr=1", "junk"], ["python", "train.py"], [], ["lr=1", "junk"],
                 id="a-word-after-the-overrides-is-an-override"),
    pytest.param(["lr=1:3"], UsageError, "name the app before its overrides", None, id="no-app"),
    pytest.param(["python", "train.py", "-r", "lr=1"], UsageError, "starts a multirun: leave out -r", None,
                 id="single-run-option"),
    pytest.param(["python", "train.py", "lr=1", "--run"], UsageError, "leave out --run", None,
                 id="single-run-option-after"),
])
def test_split_command(words, command, hydra, overrides):
    if command is UsageError:
        with pytest.raises(UsageError, match=hydra):
            split_command(words)
        return
    parts = split_command(words)
    assert (list(parts.command), list(parts.hydra), list(parts.overrides)) == (command, hydra, overrides)


@pytest.mark.parametrize("args, argv, command_line", [
    pytest.param(["lr=1m:3m", "batch_size=16,32"], SELECTED, [], id="sweeps-stay-off-the-command-line"),
    pytest.param(["a=1,2", "b=(x)", "lr/m=5", "~db", "a=7"], [*SELECTED, "a=7", "b=x", "lr=0.005", "~db"],
                 ["a=7", "b=x", "lr=0.005", "~db"], id="fixed-overrides-in-plain-form"),
    pytest.param(["a=1|b=2", "c=3"], [*SELECTED, "c=3"], ["c=3"], id="a-pipe-is-not-fixed"),
    pytest.param(["model=glob(*)", "c=3"], [*SELECTED, "c=3"], ["c=3"], id="a-glob-is-left-to-the-sweeper"),
    pytest.param(["hydra/launcher=hydraflow_slurm", "a=1"],
                 ["-m", "hydra/sweeper=hydraflow", "hydra/launcher=hydraflow_slurm", "a=1"], ["a=1"],
                 id="launcher-chosen"),
    pytest.param(["hydra/sweeper=hydraflow", "hydra.launcher.max_parallel=2", "a=1"],
                 ["-m", "hydra/launcher=hydraflow", "hydra/sweeper=hydraflow", "hydra.launcher.max_parallel=2",
                  "a=1"], ["a=1"], id="sweeper-chosen"),
    pytest.param(["hydra/sweeper=optuna", "a=1"], UsageError, "not hydra/sweeper=optuna", id="another-sweeper"),
])
def test_plan_launch(args, argv, command_line):
    parts = split_command(["python", "train.py", *args])
    if argv is UsageError:
        with pytest.raises(UsageError, match=command_line):
            plan_launch(parts, parse_sweep(list(parts.overrides)))
        return
    launch = plan_launch(parts, parse_sweep(list(parts.overrides)))
    assert list(launch.argv) == ["python", "train.py", *argv]
    assert list(launch.handed.command_line) == command_line
    assert launch.handed.overrides == parts.overrides


def test_help_says_what_it_does_with_examples():
    result = subprocess.run([HYDRAFLOW, "sweep", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: hydraflow sweep [-h] [--dry-run] [--max-values N] -- COMMAND [ARGS ...]")
    for said in ("COMMAND   every word before the first override (KEY=VALUE or ~KEY)",
                 "A mistake in ARGS is reported before the app starts (exit code 2)",
                 "  hydraflow sweep -- python train.py lr=1m:3m batch_size=16,32\n"):
        assert said in result.stdout, said
    listed = subprocess.run([HYDRAFLOW, "--help"], capture_output=True, text=True).stdout
    assert "    sweep     run a sweep typed on the command line" in listed


# --- a real app with a typed (dataclass) config --------------------------------------------------------------

@pytest.fixture
def app(tmp_path) -> Path:
    directory = tmp_path / "app"
    directory.mkdir()
    shutil.copy(TYPED_APP, directory / "train.py")
    (tmp_path / "tmp").mkdir()
    return directory


def sweep(app: Path, *args: str, options=()) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(app.parent / "tmp")}  # the handed-over file goes there, and goes away
    return subprocess.run([HYDRAFLOW, "sweep", *options, "--", PY, "train.py", *args], cwd=app, env=env,
                          capture_output=True, text=True, timeout=300)


def hydraflow(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HYDRAFLOW, *args], cwd=app, capture_output=True, text=True, timeout=300)


def runs(sweep_dir: Path):
    """[(overrides, result.json or None)] in run order."""
    out = []
    for run in sorted((p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        result = run / "result.json"
        out.append((yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()),
                    json.loads(result.read_text()) if result.exists() else None))
    return out


def test_typed_fields_get_floats_and_ints(app):
    result = sweep(app, "lr=1m:3m", "batch_size=16,32", "hydra.sweep.dir=sw")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"hydraflow: 6 runs in 1 batch group(s)\n+ {shlex.quote(PY)} train.py -m "
                                    "hydra/launcher=hydraflow hydra/sweeper=hydraflow hydra.sweep.dir=sw\n")
    seen = [(r["lr"], r["batch_size"], r["types"]["lr"], r["types"]["batch_size"]) for _, r in runs(app / "sw")]
    assert seen == [(lr, batch, "float", "int") for lr in (0.001, 0.002, 0.003) for batch in (16, 32)]
    assert list((app.parent / "tmp").iterdir()) == []
    # The same sweep given to Hydra directly stops at Hydra's typed check, before any plugin runs.
    plain = subprocess.run([PY, "train.py", "-m", "hydra/launcher=hydraflow", "lr=1m:3m", "batch_size=16,32",
                            "hydra.sweep.dir=plain"], cwd=app, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 1
    assert "Value '1m:3m' of type 'str' could not be converted to Float" in plain.stderr
    assert not (app / "plain").exists()


@pytest.mark.parametrize("args", [
    pytest.param(["lr=1m:2m", "seed=0:2|model=big"], id="keyed-pipe"),
    pytest.param(["model=(cnn,vit)_(s,l)", "batch_size=8"], id="group"),
    pytest.param(["lr=0:1:#3", "model=large|big"], id="count-and-unkeyed-pipe"),
    pytest.param(["lr/m=1,5", "model=small,'vit_l'"], id="scaled-key-and-quoted-value"),
])
def test_runs_are_what_expand_prints(app, args):
    expanded = hydraflow(app, "expand", *args)
    assert expanded.returncode == 0, expanded.stderr
    result = sweep(app, *args, "hydra.sweep.dir=sw")
    assert result.returncode == 0, result.stderr
    done = runs(app / "sw")
    assert [shell_join(overrides) for overrides, _ in done] == expanded.stdout.splitlines()
    for overrides, seen in done:  # and the app saw those values
        for key, value in (o.split("=", 1) for o in overrides):
            assert str(seen[key]) == value.strip("'"), (overrides, seen)


def test_glob_is_expanded_by_the_app(app):
    result = sweep(app, "model=glob(cnn*)", "lr=2e-3", "hydra.sweep.dir=sw")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("hydraflow: 1 runs in 1 batch group(s), each glob() counted as one value (the app "
                                    "expands it)\n")
    assert [(overrides, seen["model"]) for overrides, seen in runs(app / "sw")] == [
        (["model=cnn_l", "lr=2e-3"], "cnn_l"), (["model=cnn_s", "lr=2e-3"], "cnn_s")]


def test_dry_run_lists_the_runs_and_the_launchers_dry_run_composes_them(app):
    args = ["lr=1m:2m", "seed=0:1|model=big", "batch_size=16", "hydra.launcher.max_parallel=2", "hydra.sweep.dir=sw"]
    result = sweep(app, *args, options=["--dry-run"])
    assert result.returncode == 0, result.stderr
    expanded = hydraflow(app, "expand", *args[:3]).stdout.splitlines()
    command = (f"{shlex.quote(PY)} train.py -m hydra/launcher=hydraflow hydra/sweeper=hydraflow "
               "hydra.launcher.max_parallel=2 hydra.sweep.dir=sw batch_size=16")
    lines = result.stdout.splitlines()
    assert lines[:11] == [
        "hydraflow: 6 runs in 2 batch group(s)",
        "batch group 0 (4 runs):", *[f"  #{n} {run}" for n, run in enumerate(expanded[:4])],
        "batch group 1 (2 runs):", *[f"  #{n} {run}" for n, run in enumerate(expanded[4:], 4)],
        f"would start: {command}",
        f"+ {command} hydra.launcher.dry_run=true",
    ]
    # The launcher's dry run (every run composed): each run and where it would write.
    assert [line for line in lines[11:] if line.startswith("#")] == [
        f"#{n} {run} -> sw/{n}" for n, run in enumerate(expanded)]
    assert sorted(p.name for p in app.iterdir()) == ["train.py"]  # no sw/, no multirun/, no outputs/
    assert list((app.parent / "tmp").iterdir()) == []


@pytest.mark.parametrize("args, code, said", [
    pytest.param(["batch_size=1.5,2"], 2, "hydraflow: error: dry run: 1 of 2 runs cannot be planned:\n"
                 "  run #0 (batch_size=1.5) cannot be composed: Error merging override batch_size=1.5\n"
                 "Value '1.5' of type 'float' could not be converted to Integer", id="a-run-that-cannot-compose"),
    pytest.param(["seed=0:1", "hydra/launcher=basic"], 0,
                 "nothing started (for the launcher's own dry run, if hydra/launcher=basic is hydraflow's, add "
                 "hydra.launcher.dry_run=true to ARGS instead of --dry-run)", id="another-launcher"),
])
def test_dry_run_runs_nothing(app, args, code, said):
    result = sweep(app, *args, options=["--dry-run"])
    assert result.returncode == code, result.stderr
    assert said in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in app.iterdir()) == ["train.py"]


def test_status_and_retry_work_on_the_sweep_directory(app):
    result = sweep(app, "lr=1m:3m", "batch_size=16,32", "fail_num=3", "hydra.sweep.dir=sw")
    assert result.returncode == 1
    assert "#3 lr=0.002 batch_size=32 fail_num=3\n      RuntimeError: run 3 fails once" in result.stderr
    status = hydraflow(app, "status", "sw")
    assert (status.returncode, status.stdout.splitlines()[0]) == (1, "sw: 6 runs — 5 completed, 1 failed")
    first = [seen["pid"] if seen else None for _, seen in runs(app / "sw")]
    assert first[3] is None and None not in first[:3] + first[4:]
    retried = hydraflow(app, "retry", "sw")  # the recorded command: no HYDRAFLOW_SWEEP, no handed-over file
    assert retried.returncode == 0, retried.stderr
    assert "hydraflow: retrying 1 of 6 runs (#3)" in retried.stdout
    status = hydraflow(app, "status", "sw")
    assert (status.returncode, status.stdout.splitlines()[0]) == (0, "sw: 6 runs — 6 completed")
    # Every run's overrides and what it saw, in order (lr varies slowest); #3 ran again, the others did not.
    done = runs(app / "sw")
    types = {"lr": "float", "batch_size": "int", "seed": "int", "model": "str"}
    assert [(overrides, {k: v for k, v in seen.items() if k != "pid"}) for overrides, seen in done] == [
        ([f"lr={lr}", f"batch_size={batch}", "fail_num=3"],
         {"lr": lr, "batch_size": batch, "seed": 0, "model": "small", "types": types})
        for lr in (0.001, 0.002, 0.003) for batch in (16, 32)]
    assert [seen["pid"] for _, seen in done][:3] + [seen["pid"] for _, seen in done][4:] == first[:3] + first[4:]
    assert list((app.parent / "tmp").iterdir()) == []


@pytest.mark.parametrize("args", [
    pytest.param(["lr=1m:3m:x"], id="range-step"),
    pytest.param(["model=(cnn,vit"], id="unclosed-group"),
    pytest.param(["lr=1m:3m", "seed"], id="missing-equals"),
    pytest.param(["lr=1,2|batch_size=3", "batch_size=4"], id="piped-key-set-twice"),
])
def test_a_mistake_is_a_caret_error_before_the_app_starts(app, args):
    result = sweep(app, *args, "hydra.sweep.dir=sw")
    expanded = hydraflow(app, "expand", *args)
    assert expanded.returncode == 2 and "^" in expanded.stderr
    assert (result.returncode, result.stdout, result.stderr) == (2, "", expanded.stderr)
    assert sorted(p.name for p in app.iterdir()) == ["train.py"]  # the app never ran


@pytest.mark.parametrize("words, message", [
    pytest.param([], "hydraflow: error: name the app to start: hydraflow sweep -- python train.py ARGS...\n",
                 id="nothing"),
    pytest.param(["no-such-program", "a=1"], "hydraflow: error: command 'no-such-program' not found\n",
                 id="unknown-program"),
    pytest.param([PY, "train.py", "hydra/sweeper=basic", "a=1:2"],
                 "hydraflow: error: hydraflow sweep plans the runs with the hydraflow sweeper, not "
                 "hydra/sweeper=basic: leave it out (another sweeper reads the command line itself: start the "
                 "app with -m)\n", id="another-sweeper"),
    pytest.param([PY, "train.py", "a=1:2", "hydra.launcher.max_paralel=2"],  # Hydra would advise a '+'
                 "hydraflow: error: hydra.launcher: max_paralel: unknown field (did you mean 'max_parallel'?); valid "
                 "fields: backend, max_parallel, gpus, runs_per_task, parallel_per_task, start, wait, resume, dry_run, "
                 "max_retries, timeout_min, lean, slurm\n", id="misspelt-launcher-setting"),
    pytest.param([PY, "train.py", "a=1:2", "hydra/launcher=hydraflow_slurm", "+hydra.launcher.slurm.partitio=x"],
                 "hydraflow: error: hydra.launcher: slurm.partitio: unknown field (did you mean 'partition'?); valid "
                 "fields: account, additional_parameters, array_parallelism, comment, constraint, cpus_per_gpu, "
                 "cpus_per_task, dependency, exclude, exclusive, gpus_per_node, gpus_per_task, gres, job_name, "
                 "mail_type, mail_user, max_array_size, max_num_timeout, mem_gb, mem_per_cpu, mem_per_gpu, nodelist, "
                 "nodes, partition, python, qos, setup, signal_delay_s, srun_args, stderr_to_stdout, submitit_folder, "
                 "tasks_per_node, teardown, timeout_min, use_srun, wckey\n", id="misspelt-slurm-setting"),
])
def test_bad_command_is_one_message(app, words, message):
    result = subprocess.run([HYDRAFLOW, "sweep", "--", *words], cwd=app, capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


def test_launcher_settings_pass_through(app):
    result = sweep(app, "seed=0:3", "sleep=0.3", "hydra.launcher.max_parallel=2", "hydra.sweep.dir=sw")
    assert result.returncode == 0, result.stderr
    assert "Launching 4 jobs locally on 2 workers" in result.stdout
    assert len({seen["pid"] for _, seen in runs(app / "sw")}) == 2


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [pytest.param(signal.SIGINT, 130, id="ctrl-c"),
                                       pytest.param(signal.SIGTERM, 143, id="sigterm"),
                                       pytest.param(signal.SIGHUP, 129, id="sighup")])
def test_a_stop_reaches_the_app_and_its_exit_code_is_ours(app, sig, code):
    env = {**os.environ, "TMPDIR": str(app.parent / "tmp")}
    process = subprocess.Popen([HYDRAFLOW, "sweep", "--", PY, "train.py", "seed=0:9", "sleep=1",
                                "hydra.sweep.dir=sw"], cwd=app, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (app / "sw" / "1").is_dir() and time.monotonic() < deadline:  # the second run has started
        time.sleep(0.05)
    process.send_signal(sig)  # to hydraflow sweep alone: it passes it on
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "hydraflow: interrupted after 1 of 10 runs (0 failed)" in err
    status = hydraflow(app, "status", "sw")
    assert status.stdout.splitlines()[0] == "sw: 10 runs — 8 planned, 1 completed, 1 interrupted"
    assert list((app.parent / "tmp").iterdir()) == []


def test_an_inherited_variable_is_refused(app, tmp_path):
    handed = tmp_path / "handed.json"
    handed.write_text(json.dumps({"format": "hydraflow-sweep", "overrides": ["seed=0:9"], "command_line": []}))
    result = subprocess.run([PY, "train.py", "-m", "hydra/launcher=hydraflow", "seed=1", "hydra.sweep.dir=sw"],
                            cwd=app, env={**os.environ, "HYDRAFLOW_SWEEP": str(handed)},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert ("hydraflow: HYDRAFLOW_SWEEP names a sweep started by hydraflow sweep with the overrides [], but this "
            "app was given [seed=1]; unset HYDRAFLOW_SWEEP to run the sweep of this command line") in result.stderr
    assert not (app / "sw" / "0").exists()
