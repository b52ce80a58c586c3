"""The Slurm node path's pure parts: a run's config written and read back exactly (types, flags, the
resolvers' cache), and the task function found again by import (or the reason it cannot be)."""

from __future__ import annotations

import enum
import functools
import logging
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List

import hydra
import omegaconf
import pytest
import yaml
from hydra import compose, initialize
from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import setup_globals
from omegaconf import MISSING, OmegaConf, open_dict

from hydraflow_core.executors import saved as _saved
from hydraflow_core.executors import locate as _locate
from hydraflow_core.executors import CannotRunOnNode


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclass
class Model:
    name: str = "small"
    width: int = 8


@dataclass
class Big(Model):  # held by a field typed Model: its own type must come back
    depth: int = 3


@dataclass
class Layer:
    size: int = 4


@dataclass
class Config:
    defaults: List[Any] = field(default_factory=lambda: ["_self_", {"model": "small"}])
    model: Model = field(default_factory=Model)
    lr: float = 0.1
    color: Color = Color.RED
    token: str = MISSING
    layers: List[Layer] = field(default_factory=lambda: [Layer(1), Layer(2)])
    named: Dict[str, Any] = field(default_factory=dict)
    stamp: str = "${now:%H-%M-%S}"


def _store() -> None:
    store = ConfigStore.instance()
    store.store(name="node_config", node=Config)
    store.store(group="model", name="small", node=Model)
    store.store(group="model", name="big", node=Big)
    store.store(name="node_plain", node={"a": 1, "b": {"c": "${a}"}, "when": "${now:%Y}"})


@pytest.fixture(scope="module")
def composed():
    """Configs as Hydra composes a run's (the hydra node included, a HydraConf)."""
    saved = Singleton.get_state()
    setup_globals()
    _store()
    try:
        with initialize(version_base=None, config_path=None):
            def make(name, overrides):
                cfg = compose(name, overrides=overrides, return_hydra_config=True)
                str(cfg.stamp if "stamp" in cfg else cfg.when)  # resolved once: the cache holds the value
                return cfg
            yield make
    finally:
        Singleton.set_state(saved)


def _shape(cfg) -> list:
    """Every container node's path, type and own flags (a plugin's settings: no type)."""
    return [(path, None if _saved._plugins_own(path) else OmegaConf.get_type(node),
             {f: node._get_node_flag(f) for f in _saved.FLAGS}) for path, node in _saved._containers(cfg)]


@pytest.mark.parametrize("name, overrides", [
    pytest.param("node_config", ["model=big", "lr=0.5", "token=t", "+named.layer={size: 9}"], id="typed-subclass-field"),
    pytest.param("node_config", ["model=small", "color=BLUE", "token=abc"], id="typed-enum"),
    pytest.param("node_plain", ["a=2"], id="untyped"),
])
def test_a_config_comes_back_exactly(composed, name, overrides):
    cfg = composed(name, overrides)
    back = _saved.load(_saved.dump(cfg))
    assert OmegaConf.to_yaml(back) == OmegaConf.to_yaml(cfg)
    assert _shape(back) == _shape(cfg)
    assert OmegaConf.get_cache(back) == OmegaConf.get_cache(cfg)  # ${now:...} gives the submission's time
    with open_dict(cfg), open_dict(back):
        del cfg["hydra"], back["hydra"]
    assert OmegaConf.to_object(back) == OmegaConf.to_object(cfg)


TRICKY = {"colon": "1:30", "truth": "true", "yes": "yes", "exp": "1e3", "dot": ".5", "nothing": "null",
          "tilde": "~", "hex": "0x1F", "empty": "", "quotes": "it's \"x\"", "lines": "a\nb\n", "accents": "héllo",
          "interp": "${a.b}", "escaped": "\\${x}", "missing": "???", "ints": {1: "one", 2: [1, 2.5, None]},
          "float": 1e-05, "big": 10 ** 20, "neg": -0.0, "stamp": "2026-01-02"}


@pytest.mark.parametrize("value", [pytest.param({key: value}, id=key) for key, value in TRICKY.items()])
def test_the_yaml_is_omegaconfs(value):
    if yaml.__with_libyaml__ and omegaconf.__version__.startswith("2.3"):  # 2.4 is on libyaml itself
        assert _saved._c_yaml()[0] is not None
    cfg = OmegaConf.create(value)
    assert _saved.to_yaml(cfg) == OmegaConf.to_yaml(cfg)
    back = _saved.from_yaml(_saved.to_yaml(cfg))
    assert OmegaConf.to_yaml(back) == OmegaConf.to_yaml(OmegaConf.create(OmegaConf.to_yaml(cfg)))
    assert OmegaConf.to_container(back) == OmegaConf.to_container(cfg)


def test_the_typed_values_are_the_classes(composed):
    cfg = composed("node_config", ["model=big", "token=t"])
    assert OmegaConf.get_type(cfg.hydra.launcher).__name__ == "BasicLauncherConf"
    back = _saved.load(_saved.dump(cfg))
    assert OmegaConf.get_type(back.hydra.launcher) is dict  # a plugin's settings: values only
    assert OmegaConf.to_yaml(back.hydra.launcher) == OmegaConf.to_yaml(cfg.hydra.launcher)
    assert type(back.hydra).__name__ == "DictConfig" and OmegaConf.get_type(back, "hydra").__name__ == "HydraConf"
    assert OmegaConf.get_type(back.model) is Big and back.color is Color.RED
    with open_dict(back):
        del back["hydra"]
    assert isinstance(OmegaConf.to_object(back).model, Big)


def test_a_class_defined_in_a_function_cannot_go():
    @dataclass
    class Local:
        x: int = 1

    with pytest.raises(CannotRunOnNode, match=r"the config class .*<locals>.Local is defined inside a function"):
        _saved.dump(OmegaConf.create({"a": OmegaConf.structured(Local)}))


@pytest.mark.parametrize("text, expected", [
    pytest.param("a: ${now:%H}\nb: ${oc.env:HOME}", ["now", "oc.env"], id="two"),
    pytest.param("a: ${b}\nc: '${x.y}'", [], id="node-interpolations-only"),
    pytest.param("a: ${mine:${now:%H}}\nb: ${ mine :1}", ["mine", "now"], id="nested-once-each"),
])
def test_resolvers(text, expected):
    assert _saved.resolvers(text) == expected


def plain(cfg):
    return cfg


def _hydra_main(function):
    """``@hydra.main``, leaving Hydra's global state (its version base) as it was for the other tests."""
    saved = Singleton.get_state()
    try:
        return hydra.main(version_base=None, config_path=None)(function)
    finally:
        Singleton.set_state(saved)


@_hydra_main
def decorated(cfg):
    return cfg


def _outer(function):
    @functools.wraps(function)
    def wrapper(*args):
        return function(*args)
    return wrapper


@_outer
def wrapped_twice(cfg):  # the task function Hydra runs is the wrapper's inner one
    return cfg


@pytest.mark.parametrize("function, unwrap", [
    pytest.param(plain, 0, id="plain"),
    pytest.param(decorated.__wrapped__, 1, id="hydra-main"),
    pytest.param(wrapped_twice.__wrapped__, 1, id="another-decorator"),
    pytest.param(wrapped_twice, 0, id="the-wrapper-itself"),
])
def test_where_finds_the_function(function, unwrap):
    record = _locate.where(function)
    assert (record["module"], record["qualname"], record["unwrap"]) == (__name__, function.__qualname__, unwrap)
    assert _locate.load_function(record) is function


@pytest.mark.parametrize("function, reason", [
    pytest.param(lambda cfg: cfg, "the task function <lambda> is defined inside a function", id="lambda"),
    pytest.param(functools.partial(plain), "has no module and name to import it by", id="partial"),
    pytest.param(_outer(plain), "is not the task function, nor does it wrap it", id="shadowed-name"),
])
def test_where_says_why_not(function, reason):
    with pytest.raises(CannotRunOnNode, match=reason.replace("(", r"\(")):
        _locate.where(function)


SCRIPT = '''
import logging
import hydra

log = logging.getLogger(__name__)
{extra}

@hydra.main(version_base=None, config_path=None)
def main(cfg):
    log.info("ran")
    return cfg

if __name__ == "__main__":
    raise SystemExit("the main block must not run on the node")
'''


@pytest.fixture
def script(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, _locate.SCRIPT_NAME, raising=False)
    saved = Singleton.get_state()  # importing the script runs its @hydra.main (the version base)

    def write(extra: str = ""):
        path = tmp_path / "app.py"
        path.write_text(SCRIPT.format(extra=extra))
        return {"module": "__main__", "qualname": "main", "unwrap": 1, "main": {"file": str(path)},
                "path": str(tmp_path)}

    yield write
    sys.modules.pop(_locate.SCRIPT_NAME, None)
    Singleton.set_state(saved)


def test_a_scripts_function_is_imported_under_another_name(script):
    function = _locate.load_function(script())
    module = sys.modules[_locate.SCRIPT_NAME]
    assert function is module.main.__wrapped__ and function.__module__ == _locate.SCRIPT_NAME
    assert module.log is logging.getLogger("__main__")  # its log lines read as when it runs as a script


def test_a_script_that_fails_to_import_says_why(script):
    with pytest.raises(CannotRunOnNode, match=r"importing .*app.py failed: ImportError: not here"):
        _locate.load_function(script('raise ImportError("not here")'))
    assert _locate.SCRIPT_NAME not in sys.modules
