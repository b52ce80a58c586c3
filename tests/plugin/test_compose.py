"""The launcher's template composition gives exactly the config Hydra composes itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.singleton import Singleton
from hydra.types import HydraContext, RunMode
from omegaconf import OmegaConf

from hydra_plugins.hydraflow_launcher._compose import RunComposer

CONF = Path(__file__).resolve().parents[2] / "example_app" / "conf"


@pytest.fixture(scope="module")
def hydra_parts():
    saved = Singleton.get_state()  # Hydra's global state (version base ...) for the tests after these
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            loader = GlobalHydra.instance().hydra.config_loader
            master = loader.load_configuration("config", ["hydra/launcher=basic"], run_mode=RunMode.MULTIRUN)
            yield loader, master
    finally:
        Singleton.set_state(saved)


CASES = pytest.mark.parametrize(
    "overrides",
    [
        pytest.param([], id="nothing"),
        pytest.param(["learning_rate=0.5", "optimizer=sgd"], id="values"),
        pytest.param(["model=large", "learning_rate=0.5"], id="group-and-value"),
        pytest.param(["learning_rate=0.5", "model=large", "model.width=7"], id="value-inside-a-group"),
        pytest.param(["+extra=1", "++seed=5", "~fail"], id="add-force-delete"),
        pytest.param(["learning_rate=${seed}", "seed=3"], id="interpolation"),
        pytest.param(["hydra.job.chdir=true", "seed=1"], id="hydra-override"),
        pytest.param(["learning_rate=[1,2]", "optimizer={a:1}"], id="containers"),
        pytest.param(["+model@extra_model=large"], id="group-with-package"),
    ],
)


@CASES
def test_template_composition_equals_hydras(hydra_parts, overrides):
    loader, master = hydra_parts
    composer = RunComposer(HydraContext(config_loader=loader, callbacks=None), master)
    for _ in range(2):  # the second time from the cached template
        fast = composer.compose(overrides)
        full = loader.load_sweep_config(master, overrides)
        assert OmegaConf.to_container(fast, resolve=False) == OmegaConf.to_container(full, resolve=False)
        assert _task(fast) == _task(full)
        assert OmegaConf.is_struct(fast) == OmegaConf.is_struct(full)


def _task(cfg):
    """The app's part of a config, resolved (hydra.* needs a job number to resolve)."""
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)


def test_templates_are_kept_per_set_of_group_choices(hydra_parts):
    loader, master = hydra_parts
    composer = RunComposer(HydraContext(config_loader=loader, callbacks=None), master)
    for lr in range(5):
        for model in ("small", "large"):
            composer.compose([f"model={model}", f"learning_rate={lr}"])
    assert sorted(composer.templates) == [("model=large",), ("model=small",)]
    assert composer.group_overrides(["model=large", "seed=1", "hydra.job.chdir=true"]) == (
        "model=large", "hydra.job.chdir=true")


HIDE_PRIVATE = """
import sys, types
import hydra._internal.config_loader_impl as real


class WithoutPrivateNames(types.ModuleType):
    # hydra-core's module as on Hydra's main branch: get_overrides_dirname is gone
    def __getattr__(self, name):
        if name == "get_overrides_dirname":
            raise AttributeError(name)
        return getattr(real, name)


sys.modules[real.__name__] = WithoutPrivateNames(real.__name__)
"""


@pytest.fixture
def without_private_hydra(monkeypatch):
    import sys

    from hydra_plugins.hydraflow_launcher import _compose

    real = sys.modules["hydra._internal.config_loader_impl"]
    scope = {}
    exec(HIDE_PRIVATE, scope)  # replaces the module in sys.modules
    hidden = sys.modules[real.__name__]
    monkeypatch.setitem(sys.modules, real.__name__, hidden)
    assert _compose._private_api() is None
    monkeypatch.setitem(sys.modules, real.__name__, real)
    monkeypatch.setattr(_compose, "PRIVATE", None)


@CASES
def test_without_private_names_runs_are_composed_by_hydras_public_path(hydra_parts, without_private_hydra, overrides):
    loader, master = hydra_parts
    composer = RunComposer(HydraContext(config_loader=loader, callbacks=None), master)
    fast = composer.compose(overrides)
    full = loader.load_sweep_config(master, overrides)
    assert OmegaConf.to_container(fast, resolve=False) == OmegaConf.to_container(full, resolve=False)
    assert composer.templates == {}  # no shortcut taken


WITHOUT_PRIVATE = HIDE_PRIVATE + """
import runpy
from hydra_plugins.hydraflow_launcher import _compose
assert _compose.PRIVATE is None
sys.argv = ["train.py"] + sys.argv[1:]
runpy.run_path("train.py", run_name="__main__")
"""


def test_without_private_names_a_sweep_gives_the_same_results(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import copy_example_app

    results = []
    for name, command in (("normal", ["train.py"]), ("public-only", ["-c", WITHOUT_PRIVATE])):
        app = copy_example_app(tmp_path / name)
        done = subprocess.run([sys.executable, *command, "-m", "hydra.sweep.dir=sweep", "hydra.launcher.max_parallel=2",
                               "model=small,large", "learning_rate=1:2", "hydra.job.chdir=false"],
                              cwd=app, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs = sorted((app / "sweep").glob("*/result.json"), key=lambda p: int(p.parent.name))
        results.append([(json.loads(p.read_text())["cfg"], (p.parent / ".hydra" / "hydra.yaml").read_text()
                         .replace(str(app), "APP")) for p in runs])
    assert len(results[0]) == 4 and results[0] == results[1]
