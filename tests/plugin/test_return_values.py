"""What every run returned is recorded as plain data, whatever ran it, and `hydraflow results` shows it.

The conversion itself (a table of values), then real Hydra apps in
subprocesses: tests/fixtures/returns_app returns a number, a dataclass, a
DictConfig, numpy and torch-like scalars, a tuple, NaN and infinity, a mapping
holding an object, an object and nothing; each way a sweep can run records the
same, and `hydraflow status --json` and `hydraflow results --json` show it.
The same on Slurm: tests/slurm/test_node.py.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import copy_example_app
from hydra_plugins.hydraflow_launcher._returned import LIMIT, recorded
from test_never_lose import hydraflow, results, status_json

PYTHON = sys.executable
APP = Path(__file__).parents[1] / "fixtures" / "returns_app" / "app.py"


@dataclasses.dataclass
class Inner:
    top1: float


@dataclasses.dataclass
class Outer:
    loss: float
    acc: Inner
    tags: tuple = ("a", "b")


class Color(enum.Enum):
    RED = 1


class Scalar:
    def __init__(self, value):
        self.value = value

    def item(self):
        return self.value


class Array:
    """An array of several values: its .item() raises, as numpy's does."""

    def item(self):
        raise ValueError("can only convert an array of size 1 to a Python scalar")


def _cycle() -> dict:
    loop: dict = {"loss": 0.5}
    loop["self"] = loop
    return loop


@pytest.mark.parametrize("value, expected", [
    pytest.param(0.25, 0.25, id="float"),
    pytest.param(3, 3, id="int"),
    pytest.param(True, True, id="bool"),
    pytest.param("done", "done", id="text"),
    pytest.param({"loss": 0.5, "acc": {"top1": 0.75}}, {"loss": 0.5, "acc": {"top1": 0.75}}, id="mapping"),
    pytest.param(Outer(0.5, Inner(0.75)), {"loss": 0.5, "acc": {"top1": 0.75}, "tags": ["a", "b"]},
                 id="dataclass-nested"),
    pytest.param(OmegaConf.create({"loss": 0.5, "best": "${loss}", "runs": [1, 2]}),
                 {"loss": 0.5, "best": 0.5, "runs": [1, 2]}, id="dictconfig-resolved"),
    pytest.param(OmegaConf.create([1, {"a": 2}]), [1, {"a": 2}], id="listconfig"),
    pytest.param(OmegaConf.create({"loss": 0.5, "lr": "???"}), {"loss": 0.5, "lr": "???"}, id="dictconfig-missing"),
    pytest.param({"loss": Scalar(0.5), "steps": Scalar(3), "ok": Scalar(True)}, {"loss": 0.5, "steps": 3, "ok": True},
                 id="item-scalars"),
    pytest.param((0.5, 3), [0.5, 3], id="tuple"),
    pytest.param(float("nan"), "nan", id="nan"),
    pytest.param({"best": float("inf"), "worst": float("-inf")}, {"best": "inf", "worst": "-inf"}, id="infinities"),
    pytest.param(Scalar(float("nan")), "nan", id="item-nan"),
    pytest.param({1: "a", Color.RED: "b", "c": Color.RED}, {"1": "a", "RED": "b", "c": "RED"}, id="keys-and-enums"),
    pytest.param({"loss": 0.5, "model": object(), (1, 2): 3}, {"loss": 0.5}, id="mapping-entries-left-out"),
    pytest.param({"loss": 0.5, "curve": [0.1, object()]}, {"loss": 0.5}, id="list-with-an-object-left-out"),
    pytest.param({"loss": 0.5, "weights": Array()}, {"loss": 0.5}, id="array-left-out"),
    pytest.param(None, None, id="nothing"),
    pytest.param(object(), None, id="object-not-recorded"),
    pytest.param(Array(), None, id="array-not-recorded"),
    pytest.param(Scalar("text"), None, id="item-not-a-number"),
    pytest.param(Outer, None, id="a-dataclass-class-not-recorded"),
    pytest.param(OmegaConf.create({"a": "${missing}"}), None, id="dictconfig-unresolvable"),
    pytest.param(list(range(LIMIT + 1)), None, id="too-many-values"),
    pytest.param("x" * LIMIT, None, id="too-long"),
    pytest.param(_cycle(), None, id="cycle"),
])
def test_a_returned_value_is_recorded_as_plain_data(value, expected):
    plain = recorded(value)
    assert plain == expected
    assert plain is None or json.loads(json.dumps(plain, allow_nan=False)) == plain  # strict JSON


# ----- real sweeps: each way a sweep runs records the same

KINDS = "number,dataclass,dictconfig,numpy,tuple,not_finite,with_object,object,nothing"
#: kind -> (its end event's return_value, its row's values in `hydraflow results --json`)
RECORDED = {
    "number": (0.25, {"value": 0.25}),
    "dataclass": ({"loss": 0.25, "acc": {"top1": 0.5, "top5": 0.75}}, {"loss": 0.25, "acc.top1": 0.5, "acc.top5": 0.75}),
    "dictconfig": ({"loss": 0.25, "best": 0.25, "epochs": [1, 2]}, {"loss": 0.25, "best": 0.25}),
    "numpy": ({"loss": 0.25, "steps": 3, "zero_d": 0.5, "tensor": 0.75},
              {"loss": 0.25, "steps": 3, "zero_d": 0.5, "tensor": 0.75}),
    "tuple": ([0.25, 3], {}),
    "not_finite": ({"loss": "nan", "best": "-inf"}, {"loss": "nan", "best": "-inf"}),  # strict JSON: text
    "with_object": ({"loss": 0.25}, {"loss": 0.25}),
    "object": (None, {}),
    "nothing": (None, {}),
}


def run_app(cwd: Path, *overrides: str, sweep: str = "sweep") -> subprocess.CompletedProcess:
    result = subprocess.run([PYTHON, "app.py", "-m", f"hydra.sweep.dir={cwd / sweep}", f"+kind={KINDS}", *overrides],
                            cwd=cwd, capture_output=True, text=True, timeout=180)
    result.output = result.stdout + result.stderr
    return result


def results_json(cwd: Path, sweep: str = "sweep") -> dict:
    shown = hydraflow(cwd, "results", sweep, "--json")
    assert shown.returncode == 0, shown.output
    return json.loads(shown.stdout)


def assert_recorded(cwd: Path, sweep: str = "sweep") -> None:
    """Each run's end event and its `hydraflow results` row hold what its kind returns (:data:`RECORDED`)."""
    runs = {r["overrides"][-1].split("=")[1]: r for r in status_json(cwd, sweep)["runs"]}
    assert sorted(runs) == sorted(RECORDED) and {r["state"] for r in runs.values()} == {"completed"}
    assert {kind: run.get("return_value") for kind, run in runs.items()} == {k: v[0] for k, v in RECORDED.items()}
    rows = {row["params"]["kind"]: row["values"] for row in results_json(cwd, sweep)["rows"]}
    assert rows == {k: v[1] for k, v in RECORDED.items()}


@pytest.fixture
def cwd(tmp_path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [
    pytest.param(["hydra/launcher=hydraflow"], id="hydraflow-in-process"),
    pytest.param(["hydra/launcher=hydraflow", "hydra.launcher.max_parallel=2"], id="hydraflow-forked-workers"),
    pytest.param(["hydra/launcher=hydraflow", "hydra.launcher.start=exec", "hydra.launcher.max_parallel=2"],
                 id="hydraflow-start-exec"),
    pytest.param(["hydra/launcher=hydraflow", "hydra/sweeper=basic"], id="basic-sweeper"),
    pytest.param(["hydra/sweeper=hydraflow", "hydra/launcher=basic"], id="hydraflow-sweeper-another-launcher"),
])
def test_every_way_a_sweep_runs_records_what_each_run_returned(cwd, overrides):
    result = run_app(cwd, *overrides)
    assert result.returncode == 0, result.output
    assert_recorded(cwd)


@pytest.mark.slow
def test_optunas_trials_show_their_returned_loss_in_the_results(tmp_path):
    app = copy_example_app(tmp_path)
    result = subprocess.run([PYTHON, "train.py", "-m", "hydra/launcher=hydraflow", f"hydra.sweep.dir={app / 'sweep'}",
                             "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2",
                             "seed=range(0,100)", "hydra.sweeper.sampler.seed=7"],
                            cwd=app, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    rows = {row["number"]: row for row in results_json(app)["rows"]}
    written = results(app / "sweep")  # each trial's result.json: its seed and the loss it returned
    assert sorted(rows) == sorted(written) == list(range(4))
    for number, row in rows.items():
        assert row["params"]["seed"] == str(written[number]["cfg"]["seed"])
        assert row["values"] == {"value": written[number]["loss"]}
