"""A sweep into a directory that holds one: resumed (``hydra.launcher.resume=true``) or the earlier one moved
aside whole. Never two runs in one directory, never a completed run run again on resume.

Real hydra-core, a small app in a subprocess that appends every run it starts to ``ran.txt`` and fails a
value while a ``fail-<lr>`` file exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from test_never_lose import hydraflow, status_json

APP = '''
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg):
    out = Path(HydraConfig.get().runtime.output_dir)
    with open("ran.txt", "a") as ran:
        ran.write(f"{cfg.lr} {out.name}\\n")
    if Path(f"fail-{cfg.lr}").exists():
        raise RuntimeError(f"lr={cfg.lr} fails")
    return {"loss": cfg.lr * 10}


if __name__ == "__main__":
    main()
'''

RESUME = "hydra.launcher.resume=true"


@pytest.fixture
def app(tmp_path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def sweep(app: Path, *overrides: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep",
                             *overrides], cwd=app, capture_output=True, text=True, timeout=120)
    result.output = result.stdout + result.stderr
    return result


def ran(app: Path) -> List[str]:
    """``lr dir`` of every run started, in order; the file emptied for the next launch."""
    path = app / "ran.txt"
    lines = path.read_text().split() if path.exists() else []
    path.unlink(missing_ok=True)
    return [f"{a} {b}" for a, b in zip(lines[::2], lines[1::2])]


def runs_of(app: Path, directory: str = "sweep") -> Dict[int, dict]:
    return {r["number"]: r for r in status_json(app, directory)["runs"]}


def kinds(app: Path) -> List[str]:
    """The kind of each attempt recorded in the sweep's manifest."""
    lines = (app / "sweep" / ".hydraflow" / "attempts.jsonl").read_text().splitlines()
    return [json.loads(line)["kind"] for line in lines]


def assert_one_run_per_directory(app: Path, directory: str = "sweep") -> None:
    """Each recorded run's directory holds that run's overrides, and no other run's."""
    for number, run in runs_of(app, directory).items():
        written = yaml.safe_load((Path(run["output_dir"]) / ".hydra" / "overrides.yaml").read_text())
        assert written == run["overrides"], (number, written, run["overrides"])
        assert Path(run["output_dir"]).name == str(number)


@pytest.mark.parametrize("first, fails, then, runs, numbers", [
    # README's example: lr=2 failed; resumed as lr=0:5, 1 and 3 are not run again, 2 runs again as #1
    pytest.param("+lr=1,2,3", ["2"], ["+lr=0:5", RESUME], ["0 3", "2 1", "4 4", "5 5"],
                 {0: 1, 1: 2, 2: 3, 3: 0, 4: 4, 5: 5}, id="grown-after-a-failure"),
    pytest.param("+lr=1,2,3", [], ["+lr=1,2,3", RESUME], [], {0: 1, 1: 2, 2: 3}, id="the-same-sweep-runs-nothing"),
    pytest.param("+lr=1,2", [], ["+lr=3,2,1", RESUME], ["3 2"], {0: 1, 1: 2, 2: 3}, id="reordered"),
    pytest.param("+lr=1,2", [], ["+lr=1,2,3", RESUME, "hydra/sweeper=basic"], ["3 2"], {0: 1, 1: 2, 2: 3},
                 id="behind-the-basic-sweeper"),
    pytest.param("+lr=1,2", [], ["+lr=1:3", RESUME, "hydra.launcher.max_parallel=2"], ["3 2"],
                 {0: 1, 1: 2, 2: 3}, id="two-workers"),
])
def test_a_resumed_sweep_runs_only_what_did_not_complete(app, first, fails, then, runs, numbers):
    for value in fails:
        (app / f"fail-{value}").touch()
    sweep(app, first)
    ran(app)
    for value in fails:
        (app / f"fail-{value}").unlink()
    result = sweep(app, *then)
    assert result.returncode == 0, result.output
    assert sorted(ran(app)) == sorted(runs)
    recorded = runs_of(app)
    assert {n: int(r["overrides"][0].split("=")[1]) for n, r in recorded.items()} == numbers
    assert {r["state"] for r in recorded.values()} == {"completed"}
    assert {n: r["return_value"] for n, r in recorded.items()} == {n: {"loss": lr * 10} for n, lr in numbers.items()}
    assert_one_run_per_directory(app)
    again = f", {len(fails)} of them again" if fails else ""  # README: "A sweep that grows"
    assert f"hydraflow: resuming the sweep in sweep: {len(numbers) - len(runs)} run(s) completed there earlier " \
           f"and are not run again; {len(runs)} to run{again}\n" in result.output


def test_without_resume_the_earlier_sweep_moves_aside_whole(app):
    assert sweep(app, "+lr=1,2,3").returncode == 0
    result = sweep(app, "+lr=7,8")
    assert result.returncode == 0, result.output
    (earlier,) = (app / "sweep" / "earlier").iterdir()
    assert "held an earlier sweep (3 completed): moved it whole to earlier/" in result.output
    assert sorted(p.name for p in earlier.iterdir()) == [".hydraflow", "0", "1", "2"]
    moved = runs_of(app, str(earlier))  # itself a sweep directory, its paths where its runs now are
    assert {n: r["overrides"] for n, r in moved.items()} == {0: ["+lr=1"], 1: ["+lr=2"], 2: ["+lr=3"]}
    assert all(r["output_dir"] == str(earlier / str(n)) for n, r in moved.items())
    assert_one_run_per_directory(app, str(earlier))
    assert {n: r["overrides"] for n, r in runs_of(app).items()} == {0: ["+lr=7"], 1: ["+lr=8"]}
    assert sorted(p.name for p in (app / "sweep").iterdir()) == [".hydraflow", "0", "1", "earlier", "multirun.yaml"]
    assert_one_run_per_directory(app)


def test_a_resumed_sweep_is_one_sweep_for_retry(app):
    assert sweep(app, "+lr=1,2").returncode == 0
    (app / "fail-4").touch()
    assert sweep(app, "+lr=1:4", RESUME).returncode == 1
    ran(app)
    (app / "fail-4").unlink()
    retried = hydraflow(app, "retry", "sweep")
    assert retried.returncode == 0, retried.output
    assert ran(app) == ["4 3"]
    state = status_json(app, "sweep")
    assert state["counts"] == {"completed": 4} and kinds(app) == ["launch", "resume", "retry"]
    assert_one_run_per_directory(app)


def test_a_dry_run_of_a_resume_lists_only_what_would_run(app):
    assert sweep(app, "+lr=1,2").returncode == 0
    result = sweep(app, "+lr=1:4", RESUME, "hydra.launcher.dry_run=true")
    assert result.returncode == 0, result.output
    assert "#2 +lr=3 -> sweep/2" in result.stdout and "#3 +lr=4 -> sweep/3" in result.stdout
    assert "+lr=1 " not in result.stdout and "+lr=2 " not in result.stdout
    assert kinds(app) == ["launch"]  # nothing recorded


def test_resume_without_an_earlier_sweep_is_a_new_sweep(app):
    result = sweep(app, "+lr=1,2", RESUME)
    assert result.returncode == 0, result.output
    assert sorted(ran(app)) == ["1 0", "2 1"]


@pytest.mark.parametrize("resume", [pytest.param([RESUME], id="resume"), pytest.param([], id="new-sweep")])
def test_an_earlier_sweep_still_under_way_is_left_alone(app, resume):
    assert sweep(app, "+lr=1,2").returncode == 0 and ran(app)
    events = next((app / "sweep" / ".hydraflow" / "events").iterdir())
    with events.open("a") as out:  # run #1 started again on another machine, no end yet
        out.write(json.dumps({"attempt": 2, "time": 1e10, "run": 1, "event": "start", "host": "elsewhere",
                              "pid": 1, "job_id": "elsewhere:1"}) + "\n")
    result = sweep(app, "+lr=1:3", *resume)
    assert result.returncode == 2, result.output
    assert "holds a sweep still under way (1 runs pending or running, e.g. #1 in task elsewhere:1)" in result.output
    assert "Traceback" not in result.output
    assert ran(app) == [] and not (app / "sweep" / "earlier").exists()
