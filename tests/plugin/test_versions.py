"""What differs between the Hydra versions hydraflow supports (hydra-core 1.3 and Hydra 1.4's main branch).

Every test here runs on whichever Hydra is installed; `.ci/run` runs this file
on both. Where a test needs a feature only one version has, it says so and
skips on the other.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import hydra
import hydra.core.utils
import pytest
import yaml
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.singleton import Singleton
from hydra.types import HydraContext, RunMode
from omegaconf import OmegaConf

from hydra_plugins.hydraflow_launcher import _compose, callback
from hydra_plugins.hydraflow_launcher._compose import RunComposer

CONF = Path(__file__).resolve().parents[2] / "example_app" / "conf"
LOADER_MODULE = "hydra._internal.config_loader_impl"
HAS_WHITELIST = hasattr(hydra.utils, "target_whitelist")  # Hydra >= 1.4


# --- the fast path's private names, and the public fallback -------------------------------------


def _loader_names() -> dict:
    """The names of Hydra's config loader module, read from Hydra's own code: ``sys.modules`` may
    hold a stand-in (test_compose.py's fixture leaves one there)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    return ConfigLoaderImpl.load_sweep_config.__globals__


class _Without(types.ModuleType):
    """Hydra's config loader module with some names gone, as a later Hydra may have it."""

    def __init__(self, names: dict, hidden: set) -> None:
        super().__init__(LOADER_MODULE)
        self._names, self._hidden = names, hidden

    def __getattr__(self, name):
        if name in self._hidden or name not in self._names:
            raise AttributeError(name)
        if name == "ConfigLoaderImpl" and "_apply_overrides_to_config" in self._hidden:
            return type("ConfigLoaderImpl", (), {})  # the class without its private method
        return self._names[name]


@pytest.fixture
def hide(monkeypatch):
    """hide(names, lazy_dirname): Hydra's private ``names`` gone; its public lazy dirname resolver there or not."""

    def apply(names, lazy_dirname):
        monkeypatch.setitem(sys.modules, LOADER_MODULE, _Without(_loader_names(), set(names)))
        if lazy_dirname:
            monkeypatch.setattr(hydra.core.utils, "hydra_override_dirname", lambda *a, **k: "", raising=False)
        else:
            monkeypatch.delattr(hydra.core.utils, "hydra_override_dirname", raising=False)

    return apply


@pytest.mark.parametrize("hidden, lazy_dirname, fast, sets_dirname", [
    pytest.param([], False, True, True, id="hydra-1.3-shape"),
    pytest.param(["get_overrides_dirname"], True, True, False, id="hydra-1.4-shape"),
    pytest.param(["get_overrides_dirname"], False, False, None, id="dirname-function-moved"),
    pytest.param(["_apply_overrides_to_config"], True, False, None, id="apply-moved"),
    pytest.param(["ConfigLoaderImpl"], True, False, None, id="loader-class-moved"),
])
def test_private_names_used_only_where_the_running_hydra_needs_them(hide, hidden, lazy_dirname, fast, sets_dirname):
    if "get_overrides_dirname" not in _loader_names() and not hidden:
        pytest.skip("this Hydra has no get_overrides_dirname to keep")
    hide(hidden, lazy_dirname)
    api = _compose._private_api()
    assert (api is not None) == fast
    if fast:
        assert (api[1] is not None) == sets_dirname


@pytest.fixture(scope="module")
def example_hydra():
    saved = Singleton.get_state()  # Hydra's global state (version base ...) for the tests after these
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Hydra 1.4 deprecates the example app's version_base
            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                yield GlobalHydra.instance().hydra.config_loader
    finally:
        Singleton.set_state(saved)


RUNS = [
    pytest.param(["learning_rate=0.5", "optimizer=sgd"], id="values"),
    pytest.param(["model=large", "learning_rate=0.5"], id="group-and-value"),
    pytest.param(["+extra=1", "++seed=5", "~fail"], id="add-force-delete"),
    pytest.param(["hydra.job.chdir=true", "seed=1"], id="hydra-override"),
]


@pytest.mark.parametrize("overrides", RUNS)
def test_without_the_private_names_runs_are_composed_by_hydras_public_path(example_hydra, hide, monkeypatch,
                                                                           overrides):
    loader = example_hydra
    master = loader.load_configuration("config", ["hydra/launcher=basic"], run_mode=RunMode.MULTIRUN)
    hide(["_apply_overrides_to_config", "get_overrides_dirname"], lazy_dirname=False)
    assert _compose._private_api() is None
    monkeypatch.setattr(_compose, "PRIVATE", None)
    composer = RunComposer(HydraContext(config_loader=loader, callbacks=None), master)
    composed = composer.compose(overrides)
    assert composer.templates == {}  # no shortcut taken
    expected = loader.load_sweep_config(master, overrides)
    assert OmegaConf.to_container(composed) == OmegaConf.to_container(expected)


# --- the sweeper swap: runs composed as Hydra composes them ---------------------------------------


@pytest.mark.parametrize("overrides", RUNS)
def test_after_the_swap_runs_are_composed_against_the_sweeper_hydra_composed(example_hydra, overrides):
    loader = example_hydra
    master = loader.load_configuration("config", ["hydra/launcher=hydraflow"], run_mode=RunMode.MULTIRUN)
    plain = loader.load_configuration("config", ["hydra/launcher=hydraflow"], run_mode=RunMode.MULTIRUN)
    callback.UseHydraflowSweeper().on_multirun_start(config=master)
    assert master.hydra.sweeper._target_ == callback.HYDRAFLOW_SWEEPER
    assert callback.composed_sweeper_target(master) == plain.hydra.sweeper._target_

    composer = RunComposer(HydraContext(config_loader=loader, callbacks=None), master)
    for _ in range(2):  # the second time from the cached template
        composed = composer.compose(overrides)  # Hydra >= 1.4 refuses a run whose sweeper differs
        expected = loader.load_sweep_config(plain, overrides)
        assert OmegaConf.to_container(composed) == OmegaConf.to_container(expected)
    assert master.hydra.sweeper._target_ == callback.HYDRAFLOW_SWEEPER  # the swap stays for Hydra


def test_without_a_swap_the_master_config_is_left_alone(example_hydra):
    loader = example_hydra
    master = loader.load_configuration("config", ["hydra/sweeper=hydraflow"], run_mode=RunMode.MULTIRUN)
    assert callback.composed_sweeper_target(master) is None
    RunComposer(HydraContext(config_loader=loader, callbacks=None), master).compose_fully(["seed=1"])
    assert master.hydra.sweeper._target_ == callback.HYDRAFLOW_SWEEPER


# --- whether Hydra accepts the swap callback (Hydra 1.4's target whitelist) ----------------------


def _raise(error):
    def instantiate(*args, **kwargs):
        raise error

    return instantiate


def _warn(*args, **kwargs):
    warnings.warn("hydra.utils.instantiate() resolved _target_='...' with no _target_whitelist_", UserWarning)


@pytest.mark.parametrize("instantiate, accepted", [
    pytest.param(lambda *a, **k: None, True, id="instantiated"),
    pytest.param(_warn, True, id="instantiated-with-a-deprecation-warning"),
    pytest.param(_raise(RuntimeError("not in the instantiate target whitelist")), False, id="refused"),
])
def test_callback_accepted_asks_hydra_and_keeps_its_answer_quiet(monkeypatch, instantiate, accepted):
    monkeypatch.setattr(hydra.utils, "instantiate", instantiate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asking must not warn
        assert callback.callback_accepted() is accepted


APP = textwrap.dedent('''
    import sys

    import hydra
    from hydra.utils import target_whitelist

    @hydra.main(config_path=None, config_name=None)  # no version_base: Hydra 1.4 deprecates it
    def main(cfg):
        print("RUN", dict(cfg))

    if __name__ == "__main__":
        if sys.argv.pop(1) == "whitelisted":
            with target_whitelist("hydra_plugins.hydraflow_launcher.callback.UseHydraflowSweeper"):
                main()
        else:
            main()
''')
LEFT_OUT = "cannot switch to the hydraflow sweeper"


@pytest.mark.skipif(not HAS_WHITELIST, reason="Hydra < 1.4 has no target whitelist: callbacks are never refused")
@pytest.mark.parametrize("whitelisted, args, runs, left_out", [
    pytest.param(False, ["-m", "hydra/launcher=hydraflow", "+x=1:2"], ["{'x': '1:2'}"], True,
                 id="swap-left-out-says-so"),
    pytest.param(True, ["-m", "hydra/launcher=hydraflow", "+x=1:2"], ["{'x': 1}", "{'x': 2}"], False,
                 id="whitelisted-by-the-app"),
    pytest.param(False, ["-m", "hydra/launcher=hydraflow", "hydra/sweeper=hydraflow", "+x=1:2"],
                 ["{'x': 1}", "{'x': 2}"], False, id="sweeper-chosen"),
    pytest.param(False, ["hydra/launcher=hydraflow", "+x=1"], ["{'x': 1}"], False, id="single-run"),
])
def test_a_hydra_that_refuses_the_callback_still_runs_the_app(tmp_path, whitelisted, args, runs, left_out):
    # HYDRA_DEPRECATION_WARNINGS_AS_ERRORS turns Hydra 1.4's deprecations into Hydra 1.5's errors.
    (tmp_path / "app.py").write_text(APP)
    env = {**os.environ, "HYDRA_DEPRECATION_WARNINGS_AS_ERRORS": "1"}
    done = subprocess.run([sys.executable, "app.py", "whitelisted" if whitelisted else "as-is", *args,
                           "hydra.sweep.dir=sweep", "hydra.run.dir=run"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert [line[4:] for line in done.stdout.splitlines() if line.startswith("RUN ")] == runs
    assert (LEFT_OUT in output) == left_out


# --- a sweep end to end, as a new user runs it ------------------------------------------------


def _ours(warning_line: str) -> bool:
    return any(part in warning_line for part in ("hydra_plugins/hydraflow_launcher/", "hydraflow_core/"))


@pytest.mark.parametrize("extra", [
    pytest.param([], id="in-process"),
    pytest.param(["hydra.launcher.max_parallel=2"], id="two-workers"),
])
def test_the_launcher_alone_sweeps_with_no_warning_from_hydraflow(app, extra):
    done = subprocess.run([sys.executable, "-W", "default", "train.py", "-m", "hydra/launcher=hydraflow",
                           "hydra.sweep.dir=sweep", "learning_rate=1:2", "model=small,large", *extra],
                          cwd=app, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "using the hydraflow sweeper" in done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if "Warning" in line and _ours(line)] == []
    sweep = app / "sweep"
    assert OmegaConf.load(sweep / "multirun.yaml").hydra.sweeper._target_ == callback.HYDRAFLOW_SWEEPER
    for number in range(4):
        hydra_yaml = yaml.safe_load((sweep / str(number) / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert hydra_yaml["job"]["id"] == str(number) and hydra_yaml["job"]["num"] == number
        assert hydra_yaml["sweeper"]["_target_"] != callback.HYDRAFLOW_SWEEPER  # composed, as Hydra composes it


# --- a failed run's traceback in its log: once (Hydra 1.4 logs it itself, 1.3 does not) ---------


def _failure() -> RuntimeError:
    try:
        raise RuntimeError("failing on purpose")
    except RuntimeError as error:
        return error


def _traceback_text(error: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


@pytest.mark.parametrize("before, during, tracebacks", [
    pytest.param("", "[INFO] - step 1\n", 1, id="hydra-1.3-the-run-logged-none"),
    pytest.param("", "[ERROR] - Job failed\n{tb}", 1, id="hydra-1.4-logged-it"),
    pytest.param("[ERROR] - Job failed\n{tb}", "", 2, id="a-retry-after-a-failed-attempt"),
    pytest.param("[ERROR] - Job failed\n{tb}", "[ERROR] - Job failed\n{tb}", 2, id="a-retry-on-hydra-1.4"),
])
def test_a_failed_runs_traceback_is_in_its_log_once_per_attempt(tmp_path, before, during, tracebacks):
    from hydra_plugins.hydraflow_launcher._runs import _append_traceback

    error = _failure()
    log = tmp_path / "train.log"
    log.write_text(before.format(tb=_traceback_text(error)))
    start = log.stat().st_size
    with log.open("a") as out:
        out.write(during.format(tb=_traceback_text(error)))
    assert _append_traceback(str(log), error, start)
    assert log.read_text().count("Traceback (most recent call last)") == tracebacks
