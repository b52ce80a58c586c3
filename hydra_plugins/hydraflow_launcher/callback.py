"""The callback `hydra/launcher=hydraflow` registers: it swaps Hydra's basic sweeper
for the hydraflow sweeper, so that selecting the launcher alone gives the
extended syntax. An explicitly chosen other sweeper (optuna, ...) is kept.
In a single run (no -m) it warns about values written in the extended syntax,
which Hydra then takes as plain text.

The swap rewrites the master config's ``hydra.sweeper._target_`` only. Hydra
1.4 refuses a run whose recomposed ``hydra.sweeper`` differs from the master
config's, so the callback notes the target it replaced (in its own config
node) and :func:`composed_sweeper_target` gives composition the sweeper as
Hydra composed it.

Hydra 1.4 also asks every ``_target_`` it instantiates to be whitelisted by
trusted code at the call site, and will refuse unlisted ones in 1.5. Callbacks
are instantiated by Hydra itself with no whitelist, and Hydra offers plugins no
way to add one: only the application can, around its ``main()`` with
``hydra.utils.target_whitelist(CALLBACK_TARGET)``. Until it does, Hydra 1.4
warns about this callback as about every callback. :func:`callback_accepted`
asks Hydra whether it would instantiate it; where it would not, the launcher
config leaves the callback out (see ``config.py``) so that a Hydra that refuses
it still runs the app, with the sweeper chosen in the config.
"""

import logging
import warnings
from typing import Any, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
HYDRAFLOW_SWEEPER = "hydra_plugins.hydraflow_launcher.sweeper.HydraflowSweeper"
CALLBACK_TARGET = "hydra_plugins.hydraflow_launcher.callback.UseHydraflowSweeper"
#: What to use where Hydra reads the command line first (README: hydraflow sweep).
SWEEP_VERB = "hydraflow sweep -- COMMAND ARGS (it expands ARGS before Hydra sees them)"
#: The key of the callback's node, in the master config only: the sweeper target it replaced.
REPLACED = "replaced_sweeper"
#: ... and the hydra.launcher.slurm.* fields that interpolate each run's config, as written.
DEFERRED = "per_run_slurm"
_OURS = "hydra_plugins.hydraflow_launcher."


class UseHydraflowSweeper(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydraflow_core.cli.stdout import guard_stdout

        guard_stdout(str(config.hydra.sweep.dir))  # behind any sweeper: a closed stdout is not an error storm
        refuse_unwritable(config)  # before any sweeper writes there (Hydra's would fail with a traceback)
        defer_run_interpolations(config)
        sweeper = config.hydra.sweeper
        target = str(sweeper.get("_target_"))
        if _replaying() and target != HYDRAFLOW_SWEEPER:
            # A replay of recorded runs (retry, a Slurm task) of a sweep made behind another sweeper
            # (basic, Optuna ...): only the hydraflow sweeper runs exactly the recorded runs. It
            # ignores the other sweeper's settings while it replays.
            self._swap(config, target)
            return
        if not _is_basic_sweeper(target):
            return
        if config.hydra.runtime.choices.get("hydra/sweeper") not in (None, "basic"):
            return  # pragma: no cover - another sweeper built on BasicSweeper
        if _basic_chosen_explicitly(config):
            log.info("hydraflow: keeping the basic sweeper chosen with hydra/sweeper=basic")
            _warn_if_read_as_text(config)
            return
        if self._swap(config, target):
            log.info("hydraflow: using the hydraflow sweeper (extended sweep syntax)")

    @staticmethod
    def _swap(config: DictConfig, target: str) -> bool:
        """The hydraflow sweeper in place of ``target``, which is remembered (runs are composed with it)."""
        node = _own_node(config)
        if node is None:  # pragma: no cover - instantiated from a node that is not under hydra.callbacks
            log.warning("hydraflow: the sweeper swap callback found no node of its own: keeping the basic sweeper")
            return False
        # Hydra 1.4 hands callbacks a read-only config: opened for these two writes only.
        with read_write(node), open_dict(node):
            node[REPLACED] = target
        with read_write(config.hydra.sweeper), open_dict(config.hydra.sweeper):
            config.hydra.sweeper._target_ = HYDRAFLOW_SWEEPER
        return True


    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from hydraflow_core.cli.stdout import release_stdout

        release_stdout()

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        for override in OmegaConf.to_container(config.hydra.overrides.task, resolve=False):
            meant = _extended_meaning(str(override))
            if meant:
                log.warning(f"hydraflow: {override} means {meant} in hydraflow's sweep syntax, but without -m "
                            f"Hydra runs once with the text as written: add -m (--multirun) to sweep, or use "
                            f"{SWEEP_VERB}")


def refuse_unwritable(config: DictConfig) -> None:
    """A sweep directory that cannot be written is one line naming it and why, exit 2 (a dry run writes none)."""
    import sys

    from hydraflow_core.cli.writable import EXIT_CANNOT_WRITE, check_writable

    if OmegaConf.select(config, "hydra.launcher.dry_run", default=False) is True:
        return
    problem = check_writable(str(config.hydra.sweep.dir))
    if problem:
        sys.stderr.write(f"hydraflow: error: {problem}\n")
        raise SystemExit(EXIT_CANNOT_WRITE)


def _warn_if_read_as_text(config: DictConfig) -> None:
    """Hydra's basic sweeper, chosen on purpose, passes extended values to the runs as text: said once."""
    for override in OmegaConf.to_container(config.hydra.overrides.task, resolve=False):
        meant, hydras = _extended_meaning(str(override), multirun=True), _hydra_count(str(override))
        if meant and hydras is not None:
            log.warning(f"hydraflow: {override} means {meant} in hydraflow's sweep syntax, but Hydra's basic "
                        f"sweeper (hydra/sweeper=basic) makes {hydras} of it and passes extended values to the runs "
                        f"as text: leave out hydra/sweeper=basic, or use {SWEEP_VERB}")
            return


def _hydra_count(override: str) -> Optional[int]:
    """How many values Hydra's own parser makes of ``override`` (None: it cannot tell without the config)."""
    try:
        from hydraflow_core.syntax.hydra_bridge import parser

        parsed = parser().parse_override(override)
        return len(list(parsed.sweep_string_iterator())) if parsed.is_sweep_override() else 1
    except Exception:  # a glob (needs the config's options), or not Hydra's syntax
        return None


def defer_run_interpolations(config: DictConfig) -> None:
    """Take ``hydra.launcher.slurm.*`` fields that interpolate a run's own config (``${model.gpus}``) out of
    the master config, into this callback's node, as written.

    Hydra resolves the launcher's config against the master config when it
    instantiates it: a key only runs have (``+cpus=1,2``) would stop the app,
    and a default would hide the runs' values. The launcher reads them here
    (:func:`deferred_slurm`) and resolves them per run: each run's config holds
    them as written, since Hydra composes runs afresh.
    """
    from hydraflow_core.executors.slurm.resources import interpolated_fields

    launcher = config.hydra.get("launcher")
    node = _own_node(config)
    if node is None or launcher is None or not str(launcher.get("_target_", "")).startswith(_OURS):
        return
    slurm = launcher.get("slurm")
    if not OmegaConf.is_dict(slurm):
        return
    raw = OmegaConf.to_container(slurm, resolve=False)
    fields = interpolated_fields(raw)
    if not fields:
        return
    with read_write(node), open_dict(node):
        node[DEFERRED] = {name: raw[name].replace("${", "\\${") for name in fields}  # kept as text
    with read_write(slurm):
        for name in fields:
            slurm[name] = None


def deferred_slurm(config: DictConfig) -> dict:
    """The slurm.* fields :func:`defer_run_interpolations` took out of ``config``, as written."""
    node = _own_node(config)
    deferred = node.get(DEFERRED) if node is not None else None
    return dict(OmegaConf.to_container(deferred, resolve=True)) if deferred is not None else {}


def _replaying() -> bool:
    import os

    return bool(os.environ.get("HYDRAFLOW_REPLAY"))


def _is_basic_sweeper(target: str) -> bool:
    """Hydra's basic sweeper, by its 1.3 path or (should Hydra move it) by its class name in hydra.*."""
    return target == BASIC_SWEEPER or (target.startswith("hydra.") and target.endswith(".BasicSweeper"))


def _extended_meaning(override: str, multirun: bool = False) -> str:
    """What the extended syntax makes of ``override`` ('3 values', 'a pipe', 'the value 0.005'),
    or '' when it means what Hydra reads (one value, as written; in a multirun, as many values as Hydra's)."""
    key, equals, value = override.partition("=")
    if not equals:
        return ""
    try:
        from hydraflow_core.syntax import parse_sweep

        space = parse_sweep([override])
    except Exception:  # not hydraflow syntax either: Hydra's reading is all there is
        return ""
    (parsed,) = space.overrides
    if parsed.piped:
        return f"a pipe of {len(parsed.sections)} sub-sweeps"
    if multirun:
        return f"{parsed.count()} values" if parsed.count() != _hydra_count(override) else ""
    if parsed.count() != 1:
        return f"{parsed.count()} values"
    (axis,) = parsed.sections
    written = axis[0].partition("=")[2]
    if written.strip() != value.strip():
        return f"the value {written}"
    return ""


def _basic_chosen_explicitly(config: DictConfig) -> bool:
    """True when hydra/sweeper=basic was chosen on purpose: on the command line or as an
    `override hydra/sweeper: basic` in the primary config's defaults."""
    hydra_overrides = [str(o) for o in OmegaConf.to_container(config.hydra.overrides.hydra, resolve=False)]
    if any(o.replace(" ", "").lstrip("+") == "hydra/sweeper=basic" for o in hydra_overrides):
        return True
    try:
        from hydra.core.global_hydra import GlobalHydra
        from hydra.types import RunMode

        loader = GlobalHydra.instance().hydra.config_loader
        defaults = loader.compute_defaults_list(
            config.hydra.job.config_name, hydra_overrides + list(config.hydra.overrides.task), RunMode.MULTIRUN
        )
        return "hydra/sweeper" in defaults.overrides.override_choices
    except Exception:  # pragma: no cover - Hydra internals changed: keep the command-line check
        return False


def _own_node(config: DictConfig) -> Optional[DictConfig]:
    """This callback's node under hydra.callbacks (its key is the launcher config's, or the user's)."""
    callbacks = config.hydra.get("callbacks") or {}
    for node in callbacks.values():
        if node is not None and node.get("_target_") == CALLBACK_TARGET:
            return node
    return None


def composed_sweeper_target(config: DictConfig) -> Optional[str]:
    """The ``hydra.sweeper._target_`` Hydra composed, when this callback replaced it in ``config``; else None.

    A run's config is composed again from the defaults, so it holds this target:
    Hydra >= 1.4 refuses the run unless the master config it is compared with
    holds it too (see RunComposer.compose_fully).
    """
    node = _own_node(config)
    replaced = node.get(REPLACED) if node is not None else None
    if replaced is None or config.hydra.sweeper.get("_target_") != HYDRAFLOW_SWEEPER:
        return None
    return str(replaced)


def callback_accepted() -> bool:
    """True when Hydra instantiates this callback the way it instantiates every callback (no
    whitelist passed): Hydra < 1.4; Hydra 1.4's legacy mode, which warns; or an application that
    whitelisted it around ``main()`` with ``hydra.utils.target_whitelist(CALLBACK_TARGET)``. False
    when Hydra refuses it: Hydra 1.5, or 1.4 with HYDRA_DEPRECATION_WARNINGS_AS_ERRORS set.

    Asked through Hydra's public ``instantiate``, called as Hydra's callbacks call it.
    """
    from hydra.utils import instantiate

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a question, not a use: Hydra warns when it is used
            instantiate({"_target_": CALLBACK_TARGET})
    except Exception as error:  # refused (InstantiationException, HydraDeprecationError ...)
        log.debug(f"hydraflow: Hydra refuses the sweeper swap callback: {error}")
        return False
    return True


def warn_if_swap_left_out(config: DictConfig) -> None:
    """Say so when the hydraflow launcher runs behind Hydra's basic sweeper only because this
    callback was left out (Hydra refused it): values in the extended syntax would be taken as text."""
    launcher = str(config.hydra.launcher.get("_target_", ""))
    if not launcher.startswith("hydra_plugins.hydraflow_launcher.") or _own_node(config) is not None:
        return
    if not _is_basic_sweeper(str(config.hydra.sweeper.get("_target_"))) or _basic_chosen_explicitly(config):
        return
    if config.hydra.runtime.choices.get("hydra/sweeper") not in (None, "basic"):
        return  # pragma: no cover - another sweeper built on BasicSweeper
    log.warning(
        f"hydraflow: this Hydra refuses callbacks no whitelist names, so hydra/launcher=hydraflow cannot switch "
        f"to the hydraflow sweeper: Hydra's basic sweeper runs, and the extended sweep syntax is taken as text. "
        f"Add hydra/sweeper=hydraflow (or `override hydra/sweeper: hydraflow` in the primary config's defaults), "
        f"use {SWEEP_VERB}, or call main() inside hydra.utils.target_whitelist(\"{CALLBACK_TARGET}\")")
