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


@pytest.mark.parametrize(
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
