"""Logging for the lean run path: what Hydra's ``configure_log`` does, without its per-run cost.

``configure_log(node, verbose)`` turns the logging node into a plain dict
(``OmegaConf.to_container(resolve=True)``), checks every target in it
(hydra-core 1.3.8's target policy) and hands it to ``logging.config``'s
dictConfig; then it applies ``hydra.verbose``. Most of that is spent on the
OmegaConf conversion and the checks, the same for every run of a sweep.

A :class:`LogPlan` is made once per logging node as written. It keeps the
node's plain dict and the paths of its values that interpolate (the log
file's ``${hydra.runtime.output_dir}/${hydra.job.name}.log``); each run
resolves those alone and calls the standard library's dictConfig with the
result -- what ``configure_log`` ends in. It is made only for configs built
from Hydra's own kinds of parts (:func:`unsupported`: formatters with a
format, stream and file handlers, levels): there, 1.3.8's checks pass
whatever the values, and dictConfig's result is the same. Anything else is
not understood; the caller then runs Hydra's own ``run_job``.
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any, Dict, List, Optional, Tuple

from omegaconf import DictConfig, OmegaConf

from ._lean_interp import MISSING, simple_value

Path = Tuple[Any, ...]

_TOP = {"version", "formatters", "handlers", "root", "loggers", "disable_existing_loggers"}
_FORMATTER = {"format", "datefmt"}
_STREAMS = {"ext://sys.stdout", "ext://sys.stderr"}
_HANDLERS = {  # class -> the keys it may have
    "logging.StreamHandler": {"class", "formatter", "level", "stream"},
    "logging.FileHandler": {"class", "formatter", "level", "filename", "mode", "encoding", "delay"},
}
_LOGGER = {"level", "handlers", "propagate"}
# values a run may interpolate: none of them names a class, a stream or another part
_PER_RUN = {"format", "datefmt", "level", "filename", "mode", "encoding"}
# what dictConfig would convert (ext://module.name, cfg://path): only the two streams above are taken
_CONVERTED = re.compile(r"^[a-z]+://")


class Unsure(Exception):
    """This run's values cannot be reproduced here (Hydra's configure_log does it)."""


class LogPlan:
    """How to configure logging from one logging node as written (see the module's doc)."""

    def __init__(self, written: Any) -> None:
        self.written = written
        self.per_run: List[Path] = []
        _interpolated(written, (), self.per_run)

    @property
    def configures(self) -> bool:
        """False where Hydra's configure_log configures nothing (``root: null``) and applies verbose only."""
        return self.written["root"] is not None

    def config(self, node: DictConfig, root: DictConfig) -> Dict[str, Any]:
        """The plain dict configure_log would give dictConfig for ``node`` (this plan's node, or a run's copy;
        ``root``: the config holding it)."""
        plain = _copied(self.written)
        for path in self.per_run:
            parent_node, parent = node, plain
            for key in path[:-1]:
                parent = parent[key]
            value = simple_value(root, parent[path[-1]])
            if value is MISSING:
                try:
                    for key in path[:-1]:
                        parent_node = parent_node[key]
                    value = parent_node[path[-1]]
                except Exception as error:  # noqa: BLE001 - Hydra's conversion raises its own error for it
                    raise Unsure(f"{'.'.join(map(str, path))} does not resolve") from error
            if not isinstance(value, (str, int, float, bool)) and value is not None:
                raise Unsure(f"{'.'.join(map(str, path))} is not a plain value")
            if isinstance(value, str) and _CONVERTED.match(value):
                raise Unsure(f"{'.'.join(map(str, path))} would be converted by dictConfig")
            parent[path[-1]] = value
        return plain

    def apply(self, node: DictConfig, verbose: Any, root: DictConfig) -> None:
        """Configure logging as ``hydra.core.utils.configure_log(node, verbose)`` does."""
        assert isinstance(verbose, (bool, str)) or OmegaConf.is_list(verbose)
        if self.configures:
            if logging.config.dictConfigClass is not logging.config.DictConfigurator:
                raise Unsure("logging.config.dictConfigClass is replaced")
            logging.config.dictConfig(self.config(node, root))
        _verbose(verbose)


def plan(node: Optional[DictConfig]) -> Tuple[Optional[LogPlan], Optional[str]]:
    """``(plan, None)`` for a logging node the lean path reproduces, else ``(None, why not)``."""
    if node is None:
        return None, "no logging config (Hydra logs to stdout its own way)"
    written = OmegaConf.to_container(node, resolve=False)
    why = unsupported(written)
    return (None, why) if why else (LogPlan(written), None)


def unsupported(c: Any) -> Optional[str]:
    """Why plain logging config ``c`` (as written) is not one :class:`LogPlan` reproduces; None if it is."""
    if not isinstance(c, dict) or "root" not in c:
        return "not a mapping with a root"
    if c["root"] is None:
        return None  # configure_log configures nothing
    if set(c) - _TOP:
        return f"it sets {', '.join(sorted(map(str, set(c) - _TOP)))}"
    if c.get("version") != 1 or not isinstance(c.get("disable_existing_loggers", True), bool):
        return "version or disable_existing_loggers is not a literal"
    formatters, handlers = c.get("formatters") or {}, c.get("handlers") or {}
    if not isinstance(formatters, dict) or not isinstance(handlers, dict):
        return "formatters or handlers is not a mapping"
    for name, formatter in formatters.items():
        if not isinstance(formatter, dict) or set(formatter) - _FORMATTER:
            return f"formatter {name} is more than a format"
    for name, handler in handlers.items():
        keys = _HANDLERS.get(handler.get("class")) if isinstance(handler, dict) else None
        if keys is None or set(handler) - keys:
            return f"handler {name} is not a plain stream or file handler"
        if "stream" in handler and handler["stream"] not in _STREAMS:
            return f"handler {name} writes to {handler['stream']}"
        if handler.get("formatter") is not None and handler["formatter"] not in formatters:
            return f"handler {name} names an unknown formatter"
    loggers = c.get("loggers") or {}
    if not isinstance(loggers, dict):
        return "loggers is not a mapping"
    for name, logger in [("root", c["root"])] + list(loggers.items()):
        if not isinstance(logger, dict) or set(logger) - _LOGGER:
            return f"logger {name} sets more than level, handlers and propagate"
        names = logger.get("handlers") or []
        if not isinstance(names, list) or any(n not in handlers for n in names):
            return f"logger {name} names an unknown handler"
    return _literal_problem(c, ())


def _literal_problem(value: Any, path: Path) -> Optional[str]:
    """Interpolations only where a run may vary; no literal dictConfig would convert, but the two streams."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        where = ".".join(map(str, path))
        if isinstance(value, str) and "${" in value and path[-1] not in _PER_RUN:
            return f"{where} interpolates"
        if isinstance(value, str) and _CONVERTED.match(value) and value not in _STREAMS:
            return f"{where} would be converted by dictConfig"
        if isinstance(value, str) and value == "???":
            return f"{where} is missing"
        return None
    for key, item in items:
        problem = _literal_problem(item, path + (key,))
        if problem:
            return problem
    return None


def _interpolated(value: Any, path: Path, found: List[Path]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _interpolated(item, path + (key,), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _interpolated(item, path + (index,), found)
    elif isinstance(value, str) and "${" in value:
        found.append(path)


def _copied(value: Any) -> Any:
    """A fresh copy of plain dicts and lists (dictConfig changes the dict it is given)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def _verbose(verbose: Any) -> None:
    """hydra.verbose, as configure_log applies it after configuring."""
    if isinstance(verbose, bool):
        if verbose:
            logging.getLogger().setLevel(logging.DEBUG)
        return
    for name in [verbose] if isinstance(verbose, str) else verbose:
        logging.getLogger(name).setLevel(logging.DEBUG)
