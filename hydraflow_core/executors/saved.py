"""A run's config as written at submission and read on a Slurm node: YAML, plus what YAML loses.

``OmegaConf.to_yaml`` (unresolved, as ``OmegaConf.save`` writes it) keeps a
run's values and interpolations, not its structured types (the dataclass or
attrs class of a node: Hydra's own ``hydra`` node is a ``HydraConf``), its
flags (struct, readonly) or the resolvers' cache (``${now:...}`` gives the
submission's time, as it does for every run of a sweep locally). Those go on
the file's first line, a YAML comment holding JSON, so the file stays plain
OmegaConf YAML (``OmegaConf.load`` reads it)::

    # hydraflow: {"types": [[["hydra"], "hydra.conf", "HydraConf"], ...], "flags": [...], "cache": [...]}

The settings of Hydra's plugins (``hydra.launcher``, ``hydra.sweeper``,
``hydra.callbacks``) keep their values but not their classes: only Hydra's
start-up reads them, and their modules need not be imported on the node.
On the node the typed nodes are restored deepest first (the root last), each
as ``OmegaConf.merge(OmegaConf.structured(cls), node)``, then the flags, then
the cache. A class that cannot be imported by its module and name (here at
submission, or there) is :class:`~hydraflow_core.executors.CannotRunOnNode`:
the task replays instead.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import yaml
from omegaconf import Container, DictConfig, ListConfig, OmegaConf, open_dict, read_write

from hydraflow_core.executors.locate import class_record, load_class

HEADER = "# hydraflow: "
FLAGS = ("struct", "readonly", "allow_objects")
#: ``${name:`` -- a resolver a config uses (it must be registered on the node too).
_RESOLVER = re.compile(r"\$\{\s*([A-Za-z_][\w.\-]*)\s*:")

Path_ = Tuple[Any, ...]  # keys from the root: str or int (a list index, or an int key)


def dump(cfg: DictConfig) -> str:
    """The file's text for ``cfg``: the header line, then its YAML; CannotRunOnNode for a class that
    cannot be imported by its name."""
    types: List[list] = []
    flags: List[list] = []
    for path, node in _containers(cfg):
        kind = OmegaConf.get_type(node)
        if kind not in (None, dict, list) and not _plugins_own(path):
            types.append([list(path), *class_record(kind)])
        own = {flag: node._get_node_flag(flag) for flag in FLAGS if node._get_node_flag(flag) is not None}
        if own:
            flags.append([list(path), own])
    cache = [[name, list(key), value] for name, entries in OmegaConf.get_cache(cfg).items()
             for key, value in entries.items() if isinstance(key, tuple) and _plain(value)]
    meta = json.dumps({"types": types, "flags": flags, "cache": cache})
    return f"{HEADER}{meta}\n{to_yaml(cfg)}"


def load(text: str, main: Optional[Mapping[str, str]] = None) -> DictConfig:
    """The config :func:`dump` wrote, typed again (``main``: how to import the app's ``__main__``)."""
    first, _, body = text.partition("\n")
    meta = json.loads(first[len(HEADER):]) if first.startswith(HEADER) else {}
    loaded = from_yaml(body if first.startswith(HEADER) else text)
    cfg = loaded
    # Root first, each typed node merged from the file's (untyped) node: a node its parent's schema typed
    # already as recorded is left alone; one holding a subclass of its field's type (model: Model holding
    # a Big) is merged again into its own class.
    for path, module, qualname in sorted(meta.get("types", ()), key=lambda t: len(t[0])):
        cfg = _typed(cfg, loaded, tuple(path), load_class(module, qualname, main))
    recorded = {tuple(path): own for path, own in meta.get("flags", ())}
    for path, node in _containers(cfg):
        own = recorded.get(path, {})
        for flag in FLAGS:
            node._set_flag(flag, own.get(flag))
    cache: Dict[str, Dict[tuple, Any]] = defaultdict(dict)
    for name, key, value in meta.get("cache", ()):
        cache[name][tuple(key)] = value
    OmegaConf.set_cache(cfg, cache)
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    """``OmegaConf.to_yaml(cfg)``: the same text, emitted by libyaml where PyYAML has it (3x faster: a
    sweep writes one file per run before it is submitted)."""
    dumper = _c_yaml()[0]
    if dumper is None:
        return OmegaConf.to_yaml(cfg)
    container = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    return yaml.dump(container, default_flow_style=False, allow_unicode=True, sort_keys=False, Dumper=dumper)


def from_yaml(text: str) -> DictConfig:
    """``OmegaConf.create(text)``, parsed by libyaml where PyYAML has it (OmegaConf's own resolvers)."""
    loader = _c_yaml()[1]
    if loader is None:
        return OmegaConf.create(text)
    return OmegaConf.create(yaml.load(text, Loader=loader))


@functools.lru_cache(maxsize=None)
def _c_yaml() -> Tuple[Any, Any]:
    """OmegaConf's YAML dumper and loader on libyaml's emitter and parser (the same Python representers and
    resolvers); ``(None, None)`` without libyaml or where OmegaConf's own classes moved."""
    try:
        from omegaconf._utils import get_omega_conf_dumper, get_yaml_loader

        ours, theirs = get_omega_conf_dumper(), get_yaml_loader()
        dumper = type("OmegaConfCDumper", (yaml.CDumper,), {})
        dumper.add_representer(str, ours.str_representer)
        loader = type("OmegaConfCLoader", (yaml.CSafeLoader,), {})
        loader.yaml_implicit_resolvers = theirs.yaml_implicit_resolvers
        return dumper, loader
    except (ImportError, AttributeError):
        return None, None


def resolvers(text: str) -> List[str]:
    """The resolvers a config file's interpolations call (``${now:...}`` -> 'now'), in order, once each."""
    return list(dict.fromkeys(_RESOLVER.findall(text)))


def _plugins_own(path: Path_) -> bool:
    """A node under ``hydra`` that Hydra's own schema (HydraConf) does not type: the launcher's, the
    sweeper's, a callback's settings. Hydra reads them only as it starts, so a node leaves their classes
    (and the plugins' modules) alone; their values come back all the same."""
    return len(path) >= 2 and path[0] == "hydra" and path[1] in ("launcher", "sweeper", "callbacks")


def _typed(cfg: DictConfig, loaded: DictConfig, path: Path_, cls: type) -> DictConfig:
    """``cfg`` with the node at ``path`` the file's node merged into ``cls``'s schema (the root: a new config)."""
    node, source = _at(cfg, path), _at(loaded, path)
    if node is None or source is None or OmegaConf.get_type(node) is cls:
        return cfg
    merged = OmegaConf.merge(_schema(cls), source)
    _same_keys(merged, source)
    if not path:
        return merged
    parent = _at(cfg, path[:-1])
    with read_write(parent), open_dict(parent):
        parent[path[-1]] = merged
    return cfg


def _schema(cls: type) -> DictConfig:
    """``cls``'s structured config, open to new keys (the record's flags come last); made once per class."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        schema = OmegaConf.structured(cls)
        for _, inner in _containers(schema):
            inner._set_flag("struct", False)  # explicitly: a typed node refuses new keys otherwise
        _SCHEMAS[cls] = schema
    return schema  # merge() copies it


_SCHEMAS: Dict[type, DictConfig] = {}


def _same_keys(merged: Container, like: Container) -> None:
    """``merged`` with exactly the keys of ``like``, in its order: a schema adds the fields Hydra removed after
    composing (``hydra.defaults``) and puts its own order first."""
    if isinstance(merged, DictConfig) and isinstance(like, DictConfig):
        keys = list(like.keys())  # `key in like` is False for a ??? value: compare key lists
        wanted = set(keys)
        for key in [k for k in merged.keys() if k not in wanted]:
            del merged[key]
        content = merged.__dict__["_content"]  # OmegaConf keeps a node's keys in this dict, in order
        if list(content) != keys:
            merged.__dict__["_content"] = {key: content[key] for key in keys if key in content}
        present = set(merged.keys())
        pairs = [(merged._get_node(key), like._get_node(key)) for key in keys if key in present]
    elif isinstance(merged, ListConfig) and isinstance(like, ListConfig) and len(merged) == len(like):
        pairs = [(merged._get_node(i), like._get_node(i)) for i in range(len(like))]
    else:
        return
    for inner, other in pairs:
        if isinstance(inner, Container) and isinstance(other, Container) and not inner._is_none() \
                and not inner._is_missing() and not inner._is_interpolation():
            _same_keys(inner, other)


def _at(cfg: Container, path: Sequence[Any]) -> Optional[Container]:
    node: Any = cfg
    for key in path:
        if not isinstance(node, Container):
            return None
        try:
            node = node._get_node(key)
        except Exception:  # no such key (a config that is not the one written)
            return None
    return node if isinstance(node, Container) else None


def _containers(node: Container, path: Path_ = ()) -> Iterator[Tuple[Path_, Container]]:
    """Every container node under ``node`` (itself first), interpolations, None and ??? left out."""
    yield path, node
    if isinstance(node, DictConfig):
        keys = [k for k in node.keys() if isinstance(k, (str, int)) and not isinstance(k, bool)]
    elif isinstance(node, ListConfig):
        keys = range(len(node))
    else:  # pragma: no cover
        return
    for key in keys:
        child = node._get_node(key)
        if isinstance(child, Container) and not (child._is_none() or child._is_missing()
                                                 or child._is_interpolation()):
            yield from _containers(child, path + (key,))


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))
