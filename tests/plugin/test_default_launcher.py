"""HYDRAFLOW_DEFAULT_LAUNCHER=hydraflow: the hydraflow launcher where nothing chooses a launcher, with real
Hydra apps (hydraflow_core/default_launcher.py, hydra_plugins/hydraflow_launcher/searchpath.py); and the
batches of `hydraflow run`, which get it: their runs' states, logs and return values, status and retry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hydraflow_core import manifest
from hydraflow_core import default_launcher
from hydraflow_core.default_launcher import ENV as DEFAULT_LAUNCHER

BIN = Path(sys.executable).parent
HYDRAFLOW = str(BIN / "hydraflow")
# `python` in the jobs' commands is this environment's; the variable is never inherited from the test's own.
ENV = {**{k: v for k, v in os.environ.items() if k != DEFAULT_LAUNCHER},
       "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

# Each run writes the launcher Hydra composed for it; a run whose x has a file fail_x<x> beside the app fails.
APP = '''
import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    hydra_cfg = HydraConfig.get()
    used = {"choice": hydra_cfg.runtime.choices["hydra/launcher"],
            "launcher": hydra_cfg.launcher._target_.rsplit(".", 1)[-1]}
    Path(hydra_cfg.runtime.output_dir, "launcher.json").write_text(json.dumps(used))
    if Path(f"fail_x{cfg.x}").exists():
        raise RuntimeError(f"failing on purpose at x={cfg.x}")
    return cfg.x * 10


if __name__ == "__main__":
    main()
'''
CONFIGS = {
    "config": "x: 0\ny: 0\n",  # chooses no launcher
    "chooses_own": "defaults:\n  - config\n  - _self_\n  - override hydra/launcher: mybasic\n",
    "chooses_basic": "defaults:\n  - config\n  - _self_\n  - override hydra/launcher: basic\n",
    "chooses_fast": "defaults:\n  - config\n  - _self_\n  - override hydra/launcher: fast\n",
}
LAUNCHERS = {"mybasic": "defaults:\n  - basic\n",  # the app's own launcher option, not hydraflow's
             "fast": "defaults:\n  - hydraflow\n\nmax_parallel: 2\n"}  # one extending hydraflow's
# A `call` job's function and a `submit` job's command each run a batch as `python app.py -m ARGS`.
LAUNCH = "import subprocess, sys\n\n\ndef sweep(arguments):\n" \
         "    subprocess.run([sys.executable, 'app.py', '-m', *arguments], check=True)\n"
SUBMIT = 'while IFS= read -r line; do eval "set -- $line"; python app.py -m "$@"; done < "$1"\n'

ON_HYDRAFLOW = "# batches run on the hydraflow launcher, not Hydra's basic (a launcher your app or `with` chooses is kept)"
HYDRAFLOW_LAUNCHER = ("hydraflow", "HydraflowLauncher")
BASIC_LAUNCHER = ("basic", "BasicLauncher")


@pytest.fixture
def app(tmp_path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "launch.py").write_text(LAUNCH)
    (tmp_path / "submit.sh").write_text(SUBMIT)
    (tmp_path / "conf" / "hydra" / "launcher").mkdir(parents=True)
    for name, text in CONFIGS.items():
        (tmp_path / "conf" / f"{name}.yaml").write_text(text)
    for name, text in LAUNCHERS.items():
        (tmp_path / "conf" / "hydra" / "launcher" / f"{name}.yaml").write_text(text)
    return tmp_path


def hydraflow(app: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([HYDRAFLOW, *args], cwd=app, env=env or ENV, capture_output=True, text=True, timeout=300)


def used(sweep_dir: Path) -> set:
    """(choice, launcher class) of every run of a sweep, as each run's config had them."""
    return {tuple(json.loads(path.read_text()).values()) for path in sweep_dir.glob("*/launcher.json")}


def batch_dirs(app: Path, job: str) -> list:
    (run_dir,) = (app / "multirun" / job).iterdir()
    return sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


@pytest.mark.parametrize("batches, submit, expected", [
    pytest.param([["a=1"], ["a=2"]], False, ON_HYDRAFLOW, id="no-choice"),
    pytest.param([["a=1", "hydra/launcher=basic"]], False,
                 "# batches run on hydra/launcher=basic (chosen by with or ARGS)", id="every-batch-chooses"),
    pytest.param([["hydra/launcher=basic"], ["hydra/launcher=joblib"]], False,
                 "# batches run on hydra/launcher=basic, hydra/launcher=joblib (chosen by with or ARGS)",
                 id="batches-choose-two"),
    pytest.param([["a=1"], ["hydra/launcher=joblib", "hydra/launcher=basic"]], False,
                 ON_HYDRAFLOW + "; batch 1: hydra/launcher=basic", id="some-choose-the-last-wins"),
    pytest.param([["+hydra/launcher=basic"], ["~hydra/launcher"]], False,
                 ON_HYDRAFLOW + "; batch 0: hydra/launcher=basic", id="plus-prefix-counts-deletion-does-not"),
    pytest.param([["a=1"]], True, "# batches run on the hydraflow launcher where the submit command passes on "
                 "HYDRAFLOW_DEFAULT_LAUNCHER=hydraflow (a launcher your app or `with` chooses is kept)", id="submit"),
])
def test_the_dry_run_line(batches, submit, expected):
    assert default_launcher.said(batches, submit) == expected


@pytest.mark.parametrize("before", [pytest.param(None, id="unset"), pytest.param("other", id="set-to-another")])
def test_a_call_batch_has_the_variable_while_it_runs_only(monkeypatch, before):
    if before is None:
        monkeypatch.delenv(DEFAULT_LAUNCHER, raising=False)
    else:
        monkeypatch.setenv(DEFAULT_LAUNCHER, before)
    with default_launcher.set_here():
        assert os.environ[DEFAULT_LAUNCHER] == "hydraflow" and default_launcher.active()
    assert os.environ.get(DEFAULT_LAUNCHER) == before


@pytest.mark.parametrize("value, arguments, expected, error", [
    pytest.param("hydraflow", [], HYDRAFLOW_LAUNCHER, None, id="no-choice-gets-hydraflow"),
    pytest.param(None, [], BASIC_LAUNCHER, None, id="unset-keeps-hydras-default"),
    pytest.param("hydraflow_slurm", [], BASIC_LAUNCHER, None, id="another-value-is-ignored"),
    pytest.param("hydraflow", ["hydra/launcher=basic"], BASIC_LAUNCHER, None, id="command-line-basic-kept"),
    pytest.param("hydraflow", ["hydra/launcher=mybasic"], ("mybasic", "BasicLauncher"), None,
                 id="command-line-own-config-kept"),
    pytest.param("hydraflow", ["-cn", "chooses_own"], ("mybasic", "BasicLauncher"), None,
                 id="primary-config-choice-kept"),
    pytest.param("hydraflow", ["-cn", "chooses_basic"], BASIC_LAUNCHER, None, id="primary-config-basic-kept"),
    pytest.param("hydraflow", ["-cn", "chooses_fast", "hydra/launcher=basic"], BASIC_LAUNCHER, None,
                 id="command-line-beats-primary-config"),
    pytest.param("hydraflow", ["hydra/launcher=nosuch"], None, "Could not find 'hydra/launcher/nosuch'",
                 id="unknown-launcher-is-hydras-error"),
])
def test_the_variable_replaces_only_hydras_default_launcher(app, value, arguments, expected, error):
    env = {**ENV, **({DEFAULT_LAUNCHER: value} if value else {})}
    result = subprocess.run([sys.executable, "app.py", "-m", *arguments, "x=1,2", "hydra.sweep.dir=sweep"],
                            cwd=app, env=env, capture_output=True, text=True, timeout=120)
    if error:
        assert result.returncode == 1 and error in result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert used(app / "sweep") == {expected}
    assert manifest.has_manifest(app / "sweep") == (expected[1] == "HydraflowLauncher")


def test_a_jobs_runs_have_their_states_logs_and_return_values(app):
    (app / "hydraflow.yaml").write_text("jobs:\n  t:\n    run: python app.py\n    steps:\n"
                                        "      - batch: y=1,2\n        args: x=1:3\n")
    result = hydraflow(app, "run", "t")
    assert result.returncode == 0, result.stdout + result.stderr
    batches = batch_dirs(app, "t")
    assert [b.name for b in batches] == ["0-y-1", "1-y-2"]
    for batch in batches:
        assert used(batch) == {HYDRAFLOW_LAUNCHER}
        state = manifest.read(batch)
        assert [(r.state, r.extra.get("return_value"), str(Path(r.log).relative_to(batch))) for r in state.runs] == [
            ("completed", 10, "0/t.log"), ("completed", 20, "1/t.log"), ("completed", 30, "2/t.log")]
    run_dir = batches[0].parent
    status = hydraflow(app, "status", str(run_dir.relative_to(app)))
    assert status.returncode == 0, status.stdout
    shown = run_dir.relative_to(app)
    assert f"{shown} (t): 2 batches — 2 completed" in status.stdout
    assert status.stdout.count("│ 3 completed │") == 2
    assert status.stdout.rstrip().endswith(f"a batch's runs: hydraflow status {shown}/0-y-1")
    inner = json.loads(hydraflow(app, "status", f"{shown}/0-y-1", "--json").stdout)
    assert [(r["state"], r["return_value"]) for r in inner["runs"]] == [("completed", 10), ("completed", 20),
                                                                         ("completed", 30)]


@pytest.mark.parametrize("job, args, said, expected", [
    pytest.param("    run: python app.py\n", [], ON_HYDRAFLOW, HYDRAFLOW_LAUNCHER, id="no-choice"),
    pytest.param("    run: python app.py\n    with: hydra/launcher=basic\n", [],
                 "# batches run on hydra/launcher=basic (chosen by with or ARGS)", BASIC_LAUNCHER, id="with-basic"),
    pytest.param("    run: python app.py\n    with: hydra/launcher=mybasic\n", [],
                 "# batches run on hydra/launcher=mybasic (chosen by with or ARGS)", ("mybasic", "BasicLauncher"),
                 id="with-the-apps-own-launcher-config"),
    pytest.param("    run: python app.py\n", ["hydra/launcher=basic"],
                 "# batches run on hydra/launcher=basic (chosen by with or ARGS)", BASIC_LAUNCHER, id="args-basic"),
    pytest.param("    run: python app.py -cn chooses_own\n", [], ON_HYDRAFLOW, ("mybasic", "BasicLauncher"),
                 id="primary-config-chooses"),
    pytest.param("    run: python app.py -cn chooses_fast\n", [], ON_HYDRAFLOW, ("fast", "HydraflowLauncher"),
                 id="primary-config-extends-hydraflows"),
    pytest.param("    call: launch.sweep\n", [], ON_HYDRAFLOW, HYDRAFLOW_LAUNCHER, id="call-function-starts-the-app"),
    pytest.param("    submit: bash submit.sh\n", [],
                 "# batches run on the hydraflow launcher where the submit command passes on "
                 "HYDRAFLOW_DEFAULT_LAUNCHER=hydraflow (a launcher your app or `with` chooses is kept)",
                 HYDRAFLOW_LAUNCHER, id="submit-command-runs-the-batches-here"),
    pytest.param("    run: python app.py\n    with: hydra/launcher=nosuch\n", [],
                 "# batches run on hydra/launcher=nosuch (chosen by with or ARGS)",
                 "Could not find 'hydra/launcher/nosuch'", id="unknown-launcher-fails-the-batch"),
])
def test_a_jobs_batches_get_the_launcher_the_dry_run_says(app, job, args, said, expected):
    (app / "hydraflow.yaml").write_text(f"jobs:\n  t:\n{job}    steps:\n      - batch: y=1,2\n        args: x=1,2\n")
    dry = hydraflow(app, "run", "t", *args, "--dry-run")
    assert dry.returncode == 0 and dry.stdout.splitlines()[0] == said, dry.stdout + dry.stderr
    result = hydraflow(app, "run", "t", *args)
    if isinstance(expected, str):  # the batches fail with Hydra's error, in their logs
        assert result.returncode == 1
        assert all(expected in (batch / "hydraflow.log").read_text() for batch in batch_dirs(app, "t"))
        return
    assert result.returncode == 0, result.stdout + result.stderr
    for batch in batch_dirs(app, "t"):
        assert used(batch) == {expected}
        recorded = manifest.has_manifest(batch)
        assert recorded == (expected[1] == "HydraflowLauncher")
        if recorded:
            assert [r.state for r in manifest.read(batch).runs] == ["completed", "completed"]


def test_one_step_choosing_basic_is_said_by_its_batch_numbers(app):
    (app / "hydraflow.yaml").write_text("jobs:\n  t:\n    run: python app.py\n    steps:\n      - batch: y=1,2\n"
                                        "      - batch: y=3\n        with: hydra/launcher=basic\n")
    dry = hydraflow(app, "run", "t", "--dry-run")
    assert dry.stdout.splitlines()[0] == ON_HYDRAFLOW + "; batch 2: hydra/launcher=basic"


def test_a_job_retry_runs_again_only_the_runs_that_failed_on_the_hydraflow_launcher(app):
    """A batch's failed run is replayed alone; the retry (started without the variable) finds it recorded."""
    (app / "hydraflow.yaml").write_text("jobs:\n  t:\n    run: python app.py\n    steps:\n"
                                        "      - batch: y=1,2\n        args: x=1,2\n")
    (app / "fail_x2").touch()
    result = hydraflow(app, "run", "t")
    assert result.returncode == 1, result.stdout + result.stderr
    batches = batch_dirs(app, "t")
    for batch in batches:
        assert [r.state for r in manifest.read(batch).runs] == ["completed", "failed"]
        assert manifest.read_header(batch)["launch"]["env"] == {DEFAULT_LAUNCHER: "hydraflow"}
    run_dir = batches[0].parent
    status = hydraflow(app, "status", str(run_dir))
    assert status.returncode == 1 and status.stdout.count("│ 1 completed, 1 failed │") == 2, status.stdout
    (app / "fail_x2").unlink()
    again = hydraflow(app, "retry", str(run_dir))
    assert again.returncode == 0, again.stdout + again.stderr
    for batch in batches:
        runs = manifest.read(batch).runs
        assert [(r.state, r.starts, r.extra.get("return_value")) for r in runs] == [
            ("completed", 1, 10), ("completed", 2, 20)]
        assert used(batch) == {HYDRAFLOW_LAUNCHER}
    assert manifest.read(run_dir).complete
