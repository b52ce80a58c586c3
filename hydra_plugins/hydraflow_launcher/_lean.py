"""The lean run path: what Hydra's ``hydra.core.utils.run_job`` does for one run, observably the same, cheaper.

``run_job`` spends most of a trivial run's overhead on copies and dumps that
are the same for every run of a sweep: ``HydraConfig.set_config`` copies the
hydra node twice, the task's config is a copy of the whole config (hydra node
included, then deleted), ``hydra.yaml`` is dumped (~150 lines), and logging is
configured from an OmegaConf node. :func:`run` does the same steps in the same
order with the same results:

- ``HydraConfig`` holds the run's own hydra node (``{hydra: node}``, the node's
  parent the run's config, read-only), as ``set_config`` leaves it; not a copy;
- the task's config is copied without the hydra node;
- ``JobReturn.hydra_cfg`` is a copy where anyone can see it (the launcher keeps
  the runs' configs, or a callback has job hooks), else that same view;
- ``hydra.yaml`` is filled in from a template (:mod:`._lean_yaml`), logging is
  configured from a plan (:mod:`._lean_log`), both made once per template;
- callbacks, ``hydra.job.chdir``, ``hydra.job.env_set``, the failing task and
  the interrupted one: as the running Hydra version does it (1.3.x, 1.4.0.devN).

Where it cannot be sure -- another Hydra or OmegaConf version (:mod:`._lean_hydra`),
a logging config it does not understand, ``hydra.job.env_set`` with an
interpolation -- the run goes through ``run_job`` itself, and the reason is
logged once. ``hydra.launcher.lean=false`` sends every run there.
``tests/plugin/test_lean_conformance.py`` compares both.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from hydra import version as hydra_version
from hydra.conf import HydraConf
from hydra.core import utils as hydra_utils
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from . import _lean_hydra as running
from ._lean_interp import MISSING, simple_value
from ._lean_log import LogPlan, Unsure, plan as log_plan
from ._lean_yaml import HydraYaml, overrides_yaml, slot_values

log = logging.getLogger(__name__)

_TEMPLATES_KEPT = 64
_said: set = set()


JOB_DIR, JOB_SUBDIR = "hydra.sweep.dir", "hydra.sweep.subdir"


class Template:
    """What the runs of one template (one hydra node as composed) share: its logging plan, its hydra.yaml."""

    def __init__(self, hydra_node: DictConfig) -> None:
        self.logging, why = log_plan(hydra_node.get("job_logging"))
        self.refused = f"its hydra/job_logging is not one it reproduces ({why})" if why else None
        env_set = OmegaConf.to_container(hydra_node.job, resolve=False).get("env_set")
        plain_env = isinstance(env_set, dict) and all("${" not in str(v) for v in env_set.values())
        if not plain_env and not self.refused:  # resolved where run_job resolves it (1.3: in its copy, 1.4 ...)
            self.refused = "hydra.job.env_set interpolates"
        self.hydra_yaml = HydraYaml()


class _Lean:
    """The per-process state: templates per master config and template key, the master's logging plans."""

    def __init__(self) -> None:
        self.templates: "OrderedDict[Tuple[Any, ...], Tuple[DictConfig, Template]]" = OrderedDict()
        self.restores: Dict[int, Tuple[DictConfig, Optional[LogPlan]]] = {}

    def template(self, master: DictConfig, hydra_node: DictConfig) -> Template:
        key = (id(master), tuple(OmegaConf.to_container(hydra_node.overrides.hydra, resolve=False)),
               tuple(OmegaConf.to_container(hydra_node.runtime.choices, resolve=False).items()))
        kept = self.templates.get(key)
        if kept is None:
            kept = self.templates[key] = (master, Template(hydra_node))  # the master kept: its id is not reused
            if len(self.templates) > _TEMPLATES_KEPT:
                self.templates.popitem(last=False)
        else:
            self.templates.move_to_end(key)
        return kept[1]

    def restore_logging(self, master: DictConfig) -> None:
        """Hydra's own logging again after a run (what the launcher did with configure_log)."""
        node = master.hydra.hydra_logging
        kept = self.restores.get(id(node))
        if kept is None or kept[0] is not node:
            kept = self.restores[id(node)] = (node, log_plan(node)[0])
        if kept[1] is not None:
            try:
                kept[1].apply(node, master.hydra.verbose, master)
                return
            except Unsure:
                pass
        hydra_utils.configure_log(node, master.hydra.verbose)


_LEAN = _Lean()


def enabled(master: DictConfig) -> bool:
    """The launcher's ``lean`` setting (true unless set false)."""
    return OmegaConf.select(master, "hydra.launcher.lean", default=True) is not False


def run(hydra_context: Any, task_function: Callable, config: DictConfig, master: DictConfig,
        keep_configs: bool = True) -> JobReturn:
    """One run, as ``run_job(hydra_context=..., task_function=..., config=..., job_dir_key="hydra.sweep.dir",
    job_subdir_key="hydra.sweep.subdir")`` followed by ``configure_log`` of ``master``'s Hydra logging."""
    template = None
    if enabled(master):
        why = running.UNVERIFIED or _refused(config)
        if why is None:
            template = _LEAN.template(master, config.hydra)
            why = template.refused
        if why is not None:
            _say_once(why)
            template = None
    job = hydra_utils.run_job if template is None else functools.partial(_run, template, keep_configs)
    # one line for both: a warning either gives (stacklevel=2: this line) reads the same
    result = job(hydra_context=hydra_context, task_function=task_function, config=config, job_dir_key=JOB_DIR,
                 job_subdir_key=JOB_SUBDIR)
    if template is None:
        hydra_utils.configure_log(master.hydra.hydra_logging, master.hydra.verbose)
    else:
        _LEAN.restore_logging(master)
    return result


def log_file(hydra_node: DictConfig) -> Optional[str]:
    """The run's log file as ``_runs._log_file`` reads it from its hydra node (the ``file`` handler's filename),
    where a plain interpolation resolves it without OmegaConf's parser; None: ask ``_log_file``."""
    node: Any = hydra_node
    for key in ("job_logging", "handlers", "file", "filename"):
        node = node._get_node(key, validate_access=False) if isinstance(node, DictConfig) else None
    written = node._value() if node is not None else None
    value = simple_value(hydra_node._get_root(), written) if type(written) is str else MISSING
    return value if type(value) is str and value else None


def forewarn(master: DictConfig) -> None:
    """Before runs start (and workers fork): say once why the master config's runs go to run_job, if they do;
    a worker forked after it does not say it again."""
    if enabled(master) and isinstance(master._get_node("hydra"), DictConfig):
        why = running.UNVERIFIED or Template(master.hydra).refused
        if why is not None:
            _say_once(why)


def _refused(config: DictConfig) -> Optional[str]:
    """Why this run is not for the lean path, before anything is done (None: it is)."""
    if not isinstance(config, DictConfig) or not isinstance(config._get_node("hydra"), DictConfig):
        return "the run's config has no hydra node"
    if config.hydra.job.chdir is None and (running.FAMILY != "1.3" or running.DEPRECATION_WARNING is None):
        return "hydra.job.chdir is unset, and this Hydra's warning about it is not found"
    return None


def _say_once(why: str) -> None:
    if why not in _said:
        _said.add(why)
        log.info(f"hydraflow: runs go through Hydra's run_job, not the lean run path: {why}")


def _view(config: DictConfig, hydra_node: DictConfig) -> DictConfig:
    """What ``HydraConfig.set_config(config)`` keeps, without copying the hydra node: ``{hydra: node}``,
    the node's parent ``config`` (so that the hydra node interpolates into the app's config)."""
    view = DictConfig(content={}, flags={"no_deepcopy_set_nodes": True})
    view["hydra"] = hydra_node
    view._set_flag("no_deepcopy_set_nodes", None)
    hydra_node._set_parent(config)
    assert view._get_node("hydra") is hydra_node
    return view


def _set_hydra_config(config: DictConfig) -> DictConfig:
    """``HydraConfig.instance().set_config(config)``, the node not copied; the view it set."""
    OmegaConf.set_readonly(config.hydra, True)
    hydra_node_type = OmegaConf.get_type(config, "hydra")
    assert hydra_node_type is not None and issubclass(hydra_node_type, HydraConf)
    view = _view(config, config._get_node("hydra"))
    HydraConfig.instance().cfg = view  # type: ignore[assignment]
    return view


def _hydra_copy(view: DictConfig) -> DictConfig:
    """``copy.deepcopy(HydraConfig.instance().cfg)``, as run_job makes it. OmegaConf's copy keeps the flags a
    node has cached (``is_struct`` of the copy's hydra node answers from them), so the node's cache is first
    left as run_job's HydraConfig has it at that point: emptied (``set_config`` re-parented the node) and, on
    Hydra 1.4, filled by reading ``hydra.job.env_set`` (which run_job then resolves: plain here, a no-op)."""
    view._get_node("hydra")._invalidate_flags_cache()
    if running.FAMILY == "1.4":
        view.hydra.job.env_set
    return copy.deepcopy(view)


def _resolved(config: DictConfig, hydra_node: DictConfig, group: str, key: str) -> Any:
    """``OmegaConf.select(config, f"hydra.{group}.{key}")``, without OmegaConf's parser where not needed."""
    node = hydra_node._get_node(group)._get_node(key)
    written = node._value() if node is not None else None
    if type(written) is str:
        value = simple_value(config, written)
        if value is not MISSING:
            return value
    return OmegaConf.select(config, f"hydra.{group}.{key}")


def _task_config(config: DictConfig, hydra_node: DictConfig) -> DictConfig:
    """``copy.deepcopy(config)`` without ``hydra``, as run_job makes it, the hydra node not copied."""
    task_cfg = copy.deepcopy(config, {id(hydra_node): hydra_node})
    with read_write(task_cfg):
        with open_dict(task_cfg):
            del task_cfg["hydra"]
    assert hydra_node._get_parent() is config, "OmegaConf's deepcopy changed: the hydra node lost its parent"
    return task_cfg


def _watched(callbacks: Any) -> bool:
    """True when a callback sees the run's config and JobReturn (its class has on_job_start or on_job_end)."""
    from hydra.experimental.callback import Callback

    listeners = getattr(callbacks, "callbacks", None)
    if not isinstance(listeners, list):
        return True
    return any(getattr(type(c), name, None) is not getattr(Callback, name)
               for c in listeners for name in ("on_job_start", "on_job_end"))


def _run(template: Template, keep_configs: bool, *, hydra_context: Any, task_function: Callable,
         config: DictConfig, job_dir_key: str, job_subdir_key: str) -> JobReturn:
    """run_job's steps, in its order (see hydra/core/utils.py), for a run the lean path takes."""
    assert (job_dir_key, job_subdir_key) == (JOB_DIR, JOB_SUBDIR)
    callbacks = hydra_context.callbacks
    old_cwd = os.getcwd()
    orig_hydra_cfg = HydraConfig.instance().cfg

    view = _set_hydra_config(config)
    hydra_node = config._get_node("hydra")
    output_dir = str(_resolved(config, hydra_node, "sweep", "dir"))
    subdir = str(_resolved(config, hydra_node, "sweep", "subdir"))
    output_dir = os.path.join(output_dir, subdir)
    with read_write(config.hydra.runtime):
        with open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = os.path.abspath(output_dir)
    # (run_job's second set_config: the view holds the node itself, already up to date)
    _chdir = None
    try:
        ret = JobReturn()
        task_cfg = _task_config(config, hydra_node)
        ret.cfg = task_cfg
        # run_job's copy of the HydraConfig where anyone may see it, else the view itself
        hydra_cfg = _hydra_copy(view) if keep_configs or _watched(callbacks) else view
        ret.hydra_cfg = hydra_cfg
        overrides = OmegaConf.to_container(config.hydra.overrides.task)
        assert isinstance(overrides, list)
        ret.overrides = overrides
        Path(str(output_dir)).mkdir(parents=True, exist_ok=True)

        _chdir = hydra_cfg.hydra.job.chdir
        if _chdir is None:  # Hydra 1.3 (1.4's is a bool)
            if hydra_version.base_at_least("1.2"):
                _chdir = False
        if _chdir is None:
            running.DEPRECATION_WARNING(message=running.CHDIR_WARNING, stacklevel=2)  # _refused: it is there
            _chdir = True
        if _chdir:
            os.chdir(output_dir)
            ret.working_dir = output_dir
        else:
            ret.working_dir = os.getcwd()

        _configure_job_logging(config, template.logging)

        if config.hydra.output_subdir is not None:
            hydra_output = Path(config.hydra.runtime.output_dir) / Path(config.hydra.output_subdir)
            _save(hydra_output, "config.yaml", lambda: OmegaConf.to_yaml(task_cfg), mkdir=True)
            _save(hydra_output, "hydra.yaml", lambda: template.hydra_yaml.text(view, slot_values(hydra_node)))
            _save(hydra_output, "overrides.yaml", lambda: overrides_yaml(overrides, config.hydra.overrides.task))

        with hydra_utils.env_override(hydra_cfg.hydra.job.env_set):
            callbacks.on_job_start(config=config, task_function=task_function)
            interrupt = running.CALL_TASK(task_function, task_cfg, ret)

        ret.task_name = hydra_utils.JobRuntime.instance().get("name")
        hydra_utils._flush_loggers()
        callbacks.on_job_end(config=config, job_return=ret)
        if interrupt is not None:
            setattr(interrupt, "job_return", ret)
            raise interrupt
        return ret
    finally:
        HydraConfig.instance().cfg = orig_hydra_cfg
        if _chdir:
            os.chdir(old_cwd)


def _configure_job_logging(config: DictConfig, plan: Optional[LogPlan]) -> None:
    """``configure_log(config.hydra.job_logging, config.hydra.verbose)``, from the template's plan."""
    node, verbose = config.hydra.job_logging, config.hydra.verbose
    if plan is not None:
        try:
            plan.apply(node, verbose, config)
            return
        except Unsure:
            pass
    hydra_utils.configure_log(node, verbose)


def _save(directory: Path, filename: str, text: Callable[[], str], mkdir: bool = False) -> None:
    """Hydra's ``_save_config``: the file opened, then its text written (the directory made once)."""
    if mkdir:
        directory.mkdir(parents=True, exist_ok=True)
    with open(str(directory / filename), "w", encoding="utf-8") as file:
        file.write(text())

