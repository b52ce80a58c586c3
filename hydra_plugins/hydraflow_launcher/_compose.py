"""Compose each run's config once, cheaply.

Hydra composes every run from scratch (defaults list, config files, schema
merges): ~30 ms for a trivial app. Runs of a sweep differ mostly in values,
rarely in config-group choices. So a run's config is built from a *template*
-- the config composed by Hydra for the run's config-group (and hydra.*)
overrides, cached per distinct set of them -- copied, with the run's value
overrides applied exactly as Hydra applies them after composition.
``tests/plugin/test_compose.py`` checks the result equals Hydra's own.

The shortcut applies the value overrides with hydra-core's private
``ConfigLoaderImpl._apply_overrides_to_config``. On hydra-core 1.3 it also
sets ``hydra.job.override_dirname`` with the private ``get_overrides_dirname``;
Hydra 1.4 removed that function and made the value a lazy resolver over
``hydra.overrides.task``, which needs nothing set. When a private name the
running Hydra needs is gone, every run is composed by Hydra's public
``config_loader.load_sweep_config``: slower, same config.

Hydra >= 1.4 refuses a run whose ``hydra.sweeper`` differs from the master
config's. The launcher's callback replaced the master's sweeper target, so
Hydra composes each run against the master config with that target put back
(:func:`_as_composed`).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

_TEMPLATES_KEPT = 32


def _private_api():
    """``(apply_overrides, overrides_dirname)`` from hydra-core's internals, or None when they moved.

    ``overrides_dirname`` is None where Hydra's composition sets no ``hydra.job.override_dirname``
    (Hydra >= 1.4 resolves it lazily, see the module's doc).
    """
    try:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        apply_overrides = ConfigLoaderImpl._apply_overrides_to_config
    except (ImportError, AttributeError):
        return None
    try:
        from hydra._internal.config_loader_impl import get_overrides_dirname
    except ImportError:
        return (apply_overrides, None) if _lazy_override_dirname() else None
    return apply_overrides, get_overrides_dirname


def _lazy_override_dirname() -> bool:
    """True on a Hydra that resolves ``hydra.job.override_dirname`` itself (its public resolver, 1.4+)."""
    import hydra.core.utils

    return callable(getattr(hydra.core.utils, "hydra_override_dirname", None))


PRIVATE = _private_api()


@contextmanager
def _as_composed(master: DictConfig) -> Iterator[None]:
    """``master`` as Hydra composed it -- the sweeper target, and the launcher's slurm.* fields that interpolate
    each run's config -- while Hydra composes a run against it (the callback changed both; see callback.py)."""
    from .callback import composed_sweeper_target, deferred_slurm

    composed = composed_sweeper_target(master)
    deferred = deferred_slurm(master)
    sweeper = master.hydra.sweeper
    slurm = master.hydra.launcher.get("slurm") if deferred else None
    swapped = sweeper._target_
    with read_write(master.hydra):  # Hydra 1.4 releases make the master config read-only
        if composed is not None:
            sweeper._target_ = composed
        for name, written in deferred.items():
            slurm[name] = written
    try:
        yield
    finally:
        with read_write(master.hydra):
            sweeper._target_ = swapped
            for name in deferred:
                slurm[name] = None


def with_values(cfg: DictConfig, parsed: Sequence[Override], values: Sequence[Override]) -> DictConfig:
    """``cfg`` (a copy of a run's template) with the run's value overrides applied as Hydra applies them after
    composition, and ``hydra.overrides.task`` (and, on Hydra 1.3, ``hydra.job.override_dirname``) set from all
    of its overrides ``parsed``. Needs :data:`PRIVATE`; also what a Slurm node does with a saved template."""
    apply_overrides, overrides_dirname = PRIVATE
    apply_overrides(list(values), cfg)
    task = [o for o in parsed if not o.is_hydra_override()]
    with open_dict(cfg.hydra):
        cfg.hydra.overrides.task = [o.input_line for o in task]
        if overrides_dirname is not None:
            naming = cfg.hydra.job.config.override_dirname
            cfg.hydra.job.override_dirname = overrides_dirname(
                overrides=task, kv_sep=naming.kv_sep, item_sep=naming.item_sep, exclude_keys=naming.exclude_keys)
    return cfg


class RunComposer:
    def __init__(self, hydra_context: HydraContext, master: DictConfig) -> None:
        self.loader = hydra_context.config_loader
        self.master = master
        self.parser = OverridesParser.create(config_loader=self.loader)
        self.templates: "OrderedDict[Tuple[str, ...], DictConfig]" = OrderedDict()
        self._is_group: Dict[str, bool] = {}
        self._scratch_key: Optional[Tuple[str, ...]] = None  # look-ahead: the template of the kept hydra node
        self._scratch: Optional[DictConfig] = None
        self._subdir = None  # the template's hydra.sweep.subdir, as written
        from .callback import warn_if_swap_left_out

        warn_if_swap_left_out(master)  # the launcher builds this composer when it is set up

    def is_group_key(self, key: str) -> bool:
        """True when ``key`` (as written before '=') selects a config group."""
        if key not in self._is_group:
            bare = key.lstrip("~+").split("@", 1)[0]
            self._is_group[key] = (
                "@" in key or bare == "hydra" or bare.startswith(("hydra.", "hydra/"))
                or bool(self.loader.get_group_options(bare))
            )
        return self._is_group[key]

    def group_overrides(self, overrides: Sequence[str]) -> Tuple[str, ...]:
        """The overrides that choose config groups or set hydra.*: the template's key."""
        return tuple(o for o in overrides if self.is_group_key(o.split("=", 1)[0].strip()))

    def compose(self, overrides: Sequence[str], look_ahead: bool = False) -> DictConfig:
        """The run's config. ``look_ahead``: to be read before the next call only (a plan, a dry run): its
        ``hydra`` node is one kept per template and set again for each run, not copied (most of the cost)."""
        if PRIVATE is None:
            return self.compose_fully(overrides)
        parsed: List[Override] = self.parser.parse_overrides(list(overrides))
        structural = [o for o in parsed if self._structural(o)]
        values = [o for o in parsed if not self._structural(o)]
        key = tuple(o.input_line for o in structural)
        template = self._template(key)
        memo = {}
        if look_ahead:  # value overrides never touch hydra.* (those are structural: part of the template)
            if self._scratch_key != key:
                self._scratch_key, self._scratch = key, copy.deepcopy(template._get_node("hydra"))
                self._subdir = OmegaConf.to_container(template.hydra.sweep, resolve=False).get("subdir")
            with open_dict(self._scratch):  # what a run may have set on it (a replay's recorded subdir)
                self._scratch.sweep.subdir = self._subdir
            memo[id(template._get_node("hydra"))] = self._scratch
        cfg = with_values(copy.deepcopy(template, memo), parsed, values)
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        return cfg

    def split(self, overrides: Sequence[str]) -> Tuple[Tuple[str, ...], List[Override]]:
        """The run's template key (its structural overrides, as written) and all its overrides, parsed."""
        parsed: List[Override] = self.parser.parse_overrides(list(overrides))
        return tuple(o.input_line for o in parsed if self._structural(o)), parsed

    def compose_run(self, run: Any, look_ahead: bool = False) -> DictConfig:
        """The config of a planned run (:class:`~hydraflow_core.plan.Run`); ``look_ahead`` as for compose."""
        return self.compose(run.overrides, look_ahead=look_ahead)

    def compose_fully(self, overrides: Sequence[str]) -> DictConfig:
        """Hydra's own composition (used to validate, and for templates)."""
        with _as_composed(self.master):
            return self.loader.load_sweep_config(self.master, list(overrides))

    def _structural(self, override: Override) -> bool:
        return (override.is_hydra_override() or override.package is not None
                or self.is_group_key(override.key_or_group))

    def _template(self, key: Tuple[str, ...]) -> DictConfig:
        template = self.templates.get(key)
        if template is None:
            template = self.compose_fully(key)
            self.templates[key] = template
            if len(self.templates) > _TEMPLATES_KEPT:
                self.templates.popitem(last=False)
        else:
            self.templates.move_to_end(key)
        return template
