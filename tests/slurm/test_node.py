"""The node path on the real local cluster: each array task imports the task function again and runs the
saved configs (no app start-up); the same outputs and records as a replay; typed configs; its fallbacks;
several runs at once in one allocation (parallel_per_task); a retry through it; what the runs returned."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import copy_example_app
from hydraflow_core import manifest
from slurm.conftest import sacct_rows

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))
IMPORTED = "and run each run's saved config (no app start-up on the node)"
REPLAYED = "hydraflow: Slurm tasks start the app again (replay): "


def sweep(cwd: Path, script: str, *overrides: str, start: str = "import", sweep_dir: str = "sweep",
          timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRAFLOW_SLURM_START": start}
    result = subprocess.run([sys.executable, script, "-m", "hydra/launcher=hydraflow_slurm",
                             f"hydra.sweep.dir={cwd / sweep_dir}", *overrides],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    result.output = result.stdout + result.stderr
    return result


def specs(sweep_dir: Path) -> list:
    return [json.loads(p.read_text()) for p in sorted((sweep_dir / ".hydraflow" / "slurm").glob("spec-*.json"))]


def arrays(sweep_dir: Path) -> list:
    lines = (sweep_dir / ".hydraflow" / "slurm.jsonl").read_text().splitlines()
    return [a for a in map(json.loads, lines) if "job_id" in a]


def task_errors(sweep_dir: Path) -> str:
    """What the array tasks wrote to their stderr (submitit's log files)."""
    return "".join(p.read_text() for p in sorted((sweep_dir / ".submitit").glob("*/*_log.err")))


def returned(sweep_dir: Path) -> dict:
    return {r.number: r.extra.get("return_value") for r in manifest.read(sweep_dir).runs}


# ----- the node path against a replay of the same sweep (example_app)

def _masked_log(path: Path) -> str:
    return re.sub(r"^\[[0-9-]+ [0-9:,]+\]", "[TIME]", path.read_text(), flags=re.M)


def _run_dir(run_dir: Path) -> dict:
    """What a run left: its files, its .hydra/ config and overrides, its log (times masked), key hydra.* values."""
    hydra_cfg = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]
    return {
        "files": sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")),
        "config": (run_dir / ".hydra" / "config.yaml").read_text(),
        "overrides": (run_dir / ".hydra" / "overrides.yaml").read_text(),
        "log": _masked_log(run_dir / "train.log"),
        "hydra": {"job": {k: hydra_cfg["job"][k] for k in ("name", "id", "num", "override_dirname")},
                  "output_dir": Path(hydra_cfg["runtime"]["output_dir"]).name,
                  "choices": hydra_cfg["runtime"]["choices"], "task": hydra_cfg["overrides"]["task"]},
    }


def _records(sweep_dir: Path) -> list:
    """Each run's record, less what differs between any two sweeps (times, pids, job ids, the directory)."""
    return [(r.number, r.state, r.overrides, r.error, r.extra.get("return_value"),
             os.path.relpath(r.output_dir, sweep_dir), os.path.relpath(r.log, sweep_dir))
            for r in manifest.read(sweep_dir).runs]


@pytest.fixture
def app(tmp_path, slurm_cluster):
    return copy_example_app(tmp_path)


def test_the_node_path_leaves_what_a_replay_leaves(app):
    overrides = ("seed=0,1", "fail=false,true", "model=small,large")
    node = sweep(app, "train.py", *overrides, sweep_dir="node")
    again = sweep(app, "train.py", *overrides, start="replay", sweep_dir="replay")
    assert node.returncode == again.returncode == 1, node.output + again.output
    assert f"hydraflow: Slurm tasks import train of train.py {IMPORTED}" in node.output
    assert f"{REPLAYED}HYDRAFLOW_SLURM_START=replay" in again.output
    assert [s["kind"] for s in specs(app / "node")] == ["function"]
    assert [s["kind"] for s in specs(app / "replay")] == ["replay"]
    for number in range(8):
        assert _run_dir(app / "node" / str(number)) == _run_dir(app / "replay" / str(number)), number
    assert _records(app / "node") == _records(app / "replay")
    assert [r[1] for r in _records(app / "node")] == ["completed", "completed", "failed", "failed"] * 2
    # What the runs share is written once: a template per model, no config per run.
    assert sorted(p.name for p in (app / "node" / ".hydraflow" / "node" / "1").iterdir()) == [
        "template-0.yaml", "template-1.yaml", "templates.jsonl"]
    assert returned(app / "node")[1] == pytest.approx(json.loads((app / "node" / "1" / "result.json").read_text())
                                                      ["loss"])
    assert "RuntimeError: failing on purpose (fail=True)" in (app / "node" / "2" / "train.log").read_text()
    (array,) = arrays(app / "node")
    rows = dict(sacct_rows(array["job_id"], count=8))
    assert [rows[t] for t in array["task_ids"]] == ["COMPLETED", "COMPLETED", "FAILED", "FAILED"] * 2
    summary = node.stderr[node.stderr.index("hydraflow: 4 of 8 runs failed"):]
    assert "#2 seed=0 fail=true model=small\n      RuntimeError: failing on purpose (fail=True)\n" in summary


# ----- typed configs

TYPED_APP = '''
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf


@dataclass
class Model:
    name: str = "small"
    width: int = 8


@dataclass
class Big(Model):
    depth: int = 3


@dataclass
class Config:
    defaults: List[Any] = field(default_factory=lambda: ["_self_", {"model": "small"}])
    model: Model = field(default_factory=Model)
    x: int = 0


store = ConfigStore.instance()
store.store(name="config", node=Config)
store.store(group="model", name="small", node=Model)
store.store(group="model", name="big", node=Big)


@hydra.main(version_base=None, config_name="config")
def main(cfg: Config) -> int:
    typed = OmegaConf.to_object(cfg)
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "types.json").write_text(json.dumps({
        "root": type(typed).__name__, "model": type(typed.model).__name__,
        "get_type": OmegaConf.get_type(cfg.model).__name__, "struct": OmegaConf.is_struct(cfg),
        "hydra": OmegaConf.get_type(HydraConfig.get()).__name__}))
    return cfg.x


if __name__ == "__main__":
    main()
'''


def test_a_typed_app_keeps_its_types_on_the_node(tmp_path, slurm_cluster):
    (tmp_path / "app.py").write_text(TYPED_APP)
    overrides = ("x=1,2", "model=small,big")
    remote = sweep(tmp_path, "app.py", *overrides, sweep_dir="remote")
    local = sweep(tmp_path, "app.py", *overrides, "hydra.launcher.backend=local", sweep_dir="local")
    assert remote.returncode == local.returncode == 0, remote.output + local.output
    assert IMPORTED in remote.output and [s["kind"] for s in specs(tmp_path / "remote")] == ["function"]

    def types(where: str) -> list:
        return [json.loads((tmp_path / where / str(n) / "types.json").read_text()) for n in range(4)]

    assert types("remote") == types("local")
    assert [(t["root"], t["model"], t["struct"]) for t in types("local")] == \
        [("Config", "Model", True), ("Config", "Big", True)] * 2
    assert returned(tmp_path / "remote") == {0: 1, 1: 1, 2: 2, 3: 2}


# ----- where the node path cannot go: the reason, once, and a replay that runs the runs

PLAIN_APP = '''
import hydra
{before}

@hydra.main(version_base=None, config_path=None)
def main(cfg):
    return cfg.x * 10

if __name__ == "__main__":
    {main}
'''

LOCAL_FUNCTION = '''
import hydra


def make():
    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        return cfg.x * 10
    return main


if __name__ == "__main__":
    make()()
'''

LOCAL_CLASS = '''
from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore


def register():
    @dataclass
    class Config:
        x: int = 0
    ConfigStore.instance().store(name="config", node=Config)


register()


@hydra.main(version_base=None, config_name="config")
def main(cfg):
    return cfg.x * 10


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("source, extra, kind, said, where", [
    pytest.param(LOCAL_FUNCTION, "+x=1,2", "replay",
                 "the task function make.<locals>.main is defined inside a function: it cannot be imported",
                 "launcher", id="function-in-a-function"),
    pytest.param(LOCAL_CLASS, "x=1,2", "replay",
                 "the config class register.<locals>.Config is defined inside a function: it cannot be imported",
                 "launcher", id="class-in-a-function"),
    pytest.param(PLAIN_APP.format(before='import os\nif __name__ == "__mp_main__":\n    raise ImportError("only '
                                         'as a script")', main="main()"),
                 "+x=1,2", "function", "importing {app} failed: ImportError: only as a script", "node",
                 id="the-script-fails-to-import-there"),
    pytest.param(PLAIN_APP.format(before="from omegaconf import OmegaConf",
                                  main='OmegaConf.register_new_resolver("ten", lambda v: 10 * int(v))\n    main()'),
                 "+x=1,2 +y=${ten:1}", "function",
                 "run #{n}'s config uses the resolver ten, which importing the app does not register", "node",
                 id="a-resolver-of-the-main-block"),
])
def test_where_the_function_cannot_be_imported_the_task_replays(tmp_path, slurm_cluster, source, extra, kind,
                                                                 said, where):
    (tmp_path / "app.py").write_text(source)
    result = sweep(tmp_path, "app.py", *extra.split())
    assert result.returncode == 0, result.output
    assert [s["kind"] for s in specs(tmp_path / "sweep")] == [kind]
    if where == "launcher":  # one line at submission, naming why
        said = said.format(app=tmp_path / "app.py")
        assert result.output.count(REPLAYED) == 1 and f"{REPLAYED}{said}\n" in result.output, result.output
    else:  # each task says it on its stderr
        errors = task_errors(tmp_path / "sweep")
        for n in (0, 1):
            assert f"hydraflow: task {n} starts the app again (replay): {said.format(app=tmp_path / 'app.py', n=n)}\n" \
                in errors, errors
    assert returned(tmp_path / "sweep") == {0: 10, 1: 20}


# ----- several runs at once in one allocation

TIMED_APP = '''
import json
import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    started = time.time()
    time.sleep(2)
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "where.json").write_text(json.dumps({
        "started": started, "ended": time.time(), "cpus": sorted(os.sched_getaffinity(0)),
        "task": os.environ.get("SLURM_ARRAY_TASK_ID"), "omp": os.environ.get("OMP_NUM_THREADS")}))
    return cfg.x


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("start, kind", [pytest.param("import", "function", id="node-path"),
                                         pytest.param("replay", "replay", id="replay")])
def test_runs_of_one_task_run_two_at_a_time_each_on_its_own_cpu(tmp_path, slurm_cluster, start, kind):
    (tmp_path / "app.py").write_text(TIMED_APP)
    result = sweep(tmp_path, "app.py", "+x=0,1,2,3", "hydra.launcher.runs_per_task=4",
                   "hydra.launcher.parallel_per_task=2", "hydra.launcher.slurm.cpus_per_task=2", start=start)
    assert result.returncode == 0, result.output
    assert [s["kind"] for s in specs(tmp_path / "sweep")] == [kind]
    where = [json.loads((tmp_path / "sweep" / str(n) / "where.json").read_text()) for n in range(4)]
    assert len({w["task"] for w in where}) == 1  # one array task ran all four
    assert all(len(w["cpus"]) == 1 and w["omp"] == "1" for w in where), where
    for a, b in (where[:2], where[2:]):  # two at a time, each pinned to a CPU of its own
        assert a["started"] < b["ended"] and b["started"] < a["ended"], (a, b)
        assert a["cpus"] != b["cpus"]
    for w in where:  # never three at once
        assert sum(o["started"] <= w["started"] < o["ended"] for o in where) <= 2, where
    assert returned(tmp_path / "sweep") == {0: 0, 1: 1, 2: 2, 3: 3}


def test_a_bad_parallel_per_task_is_one_message(tmp_path, slurm_cluster):
    (tmp_path / "app.py").write_text(PLAIN_APP.format(before="", main="main()"))
    result = sweep(tmp_path, "app.py", "+x=1,2", "hydra.launcher.parallel_per_task=0")
    assert result.returncode == 1
    assert "hydra.launcher: parallel_per_task must be a whole number of at least 1, not 0" in result.stderr
    assert "Traceback" not in result.stderr


# ----- a retry goes through the node path too

FLAKY_APP = '''
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    out = Path(HydraConfig.get().runtime.output_dir)
    if cfg.x == 1 and not (out.parent / "fixed").exists():
        raise RuntimeError("failing until fixed")
    return cfg.x * 10


if __name__ == "__main__":
    main()
'''


def test_a_retry_of_a_slurm_sweep_imports_the_function_too(tmp_path, slurm_cluster):
    (tmp_path / "app.py").write_text(FLAKY_APP)
    first = sweep(tmp_path, "app.py", "+x=0,1,2")
    assert first.returncode == 1, first.output
    (tmp_path / "sweep" / "fixed").write_text("")
    retry = subprocess.run([HYDRAFLOW, "retry", "sweep"], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert IMPORTED in retry.stdout + retry.stderr
    kinds = [(s["attempt"], s["kind"], s["tasks"]) for s in specs(tmp_path / "sweep")]
    assert kinds == [(1, "function", [[0], [1], [2]]), (2, "function", [[1]])]
    assert sorted(p.name for p in (tmp_path / "sweep" / ".hydraflow" / "node" / "2").iterdir()) == ["1.yaml"]
    assert manifest.read(tmp_path / "sweep").complete
    assert returned(tmp_path / "sweep") == {0: 0, 1: 10, 2: 20}


# ----- how the node finds the function: a script's file, a module run with -m, a module the script imports

LIBRARY = '''
import hydra


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    return cfg.x * 10
'''


@pytest.mark.parametrize("files, command, shown", [
    pytest.param({"pkg/__init__.py": "", "pkg/app.py": LIBRARY + '\nif __name__ == "__main__":\n    main()\n'},
                 ["-m", "pkg.app"], "pkg.app.main", id="python-m"),
    pytest.param({"lib/__init__.py": "", "lib/tasks.py": LIBRARY,
                  "run.py": 'from lib.tasks import main\n\nif __name__ == "__main__":\n    main()\n'},
                 ["run.py"], "lib.tasks.main", id="a-module-the-script-imports"),
])
def test_the_function_is_found_where_the_app_has_it(tmp_path, slurm_cluster, files, command, shown):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, *command, "-m", "hydra/launcher=hydraflow_slurm",
                             f"hydra.sweep.dir={tmp_path / 'sweep'}", "+x=1,2"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"hydraflow: Slurm tasks import {shown} {IMPORTED}" in result.stdout + result.stderr
    assert [s["kind"] for s in specs(tmp_path / "sweep")] == ["function"]
    assert "starts the app again" not in task_errors(tmp_path / "sweep")
    assert returned(tmp_path / "sweep") == {0: 10, 1: 20}


SLOW_APP = '''
import time

import hydra


@hydra.main(version_base=None, config_path=None)
def main(cfg):
    time.sleep(60 if cfg.x == 1 else 0)
    return cfg.x


if __name__ == "__main__":
    main()
'''


def test_a_runs_time_limit_holds_on_the_node(tmp_path, slurm_cluster):
    (tmp_path / "app.py").write_text(SLOW_APP)
    result = sweep(tmp_path, "app.py", "+x=0,1,2", "hydra.launcher.runs_per_task=3", "hydra.launcher.timeout_min=0.05")
    assert result.returncode == 1, result.output
    assert [s["kind"] for s in specs(tmp_path / "sweep")] == ["function"]
    state = {r.number: (r.state, r.error) for r in manifest.read(tmp_path / "sweep").runs}
    assert state == {0: ("completed", None), 1: ("timed out", "timed out after 0.05 min"), 2: ("completed", None)}


# ----- what the runs returned

RETURNS_APP = Path(__file__).parents[1] / "fixtures" / "returns_app" / "app.py"
KINDS = "+kind=number,dataclass,dictconfig,numpy,tuple,not_finite,with_object,object,nothing"


def _returned_and_rows(cwd: Path, sweep_dir: str) -> tuple:
    """What `hydraflow status --json` and `hydraflow results --json` show of each run: by kind, its
    return_value and its row's values (JSON text: NaN equals NaN there)."""
    def shown(verb: str) -> dict:
        result = subprocess.run([HYDRAFLOW, verb, sweep_dir, "--json"], cwd=cwd, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    returned = {r["overrides"][-1]: r.get("return_value") for r in shown("status")["runs"]}
    rows = {row["params"]["kind"]: row["values"] for row in shown("results")["rows"]}
    return json.dumps(returned, sort_keys=True), json.dumps(rows, sort_keys=True)


@pytest.mark.parametrize("start, kind", [pytest.param("import", "function", id="node-path"),
                                         pytest.param("replay", "replay", id="replay")])
def test_what_each_run_returned_is_recorded_on_slurm_as_locally(tmp_path, slurm_cluster, start, kind):
    shutil.copy(RETURNS_APP, tmp_path / "app.py")
    local = subprocess.run([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow",
                            f"hydra.sweep.dir={tmp_path / 'local'}", KINDS], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
    assert local.returncode == 0, local.stdout + local.stderr
    result = sweep(tmp_path, "app.py", KINDS, "hydra.launcher.runs_per_task=5", start=start)
    assert result.returncode == 0, result.output
    assert [s["kind"] for s in specs(tmp_path / "sweep")] == [kind]
    assert _returned_and_rows(tmp_path, "sweep") == _returned_and_rows(tmp_path, "local")
    rows = json.loads(_returned_and_rows(tmp_path, "sweep")[1])
    assert rows["dataclass"] == {"loss": 0.25, "acc.top1": 0.5, "acc.top5": 0.75}
    assert rows["numpy"] == {"loss": 0.25, "steps": 3, "zero_d": 0.5, "tensor": 0.75}
