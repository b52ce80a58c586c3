"""Finding the task function and a config's classes again by import, on a Slurm node (nothing pickled).

At submission, :func:`where` says how a node finds the task function again:
its module and qualified name, unwrapped (``inspect.unwrap``, ``__wrapped__``)
as many times as it takes here to get from the module's attribute (the
``@hydra.main`` wrapper) to the function Hydra runs. An app run as a script
has its function in ``__main__``: the node imports the script's file under
another name (``__mp_main__``, as multiprocessing's spawn does, so that its
``if __name__ == "__main__"`` block does not run), or, for ``python -m
pkg.app``, the module ``pkg.app``. :func:`class_record` does the same for a
structured config's class; a class of ``__main__`` maps to the imported script.

On the node, :func:`load_function` and :func:`load_class` import them, with
the submitting process's first ``sys.path`` entry (the script's directory)
first. Anything that cannot be found that way is :class:`CannotRunOnNode`,
whose text names why: the task then starts the app again instead (replay).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import os
import sys
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from hydraflow_core.executors.work import CannotRunOnNode

#: The name a script's file is imported under on the node (multiprocessing's, for the same reason).
SCRIPT_NAME = "__mp_main__"
_MAX_WRAPPERS = 50


def where(function: Callable) -> Dict[str, Any]:
    """How a node imports ``function`` again (a JSON-able mapping), or :class:`CannotRunOnNode`."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise CannotRunOnNode(f"the task function {function!r} has no module and name to import it by")
    if "<" in qualname:  # <locals>, <lambda>
        raise CannotRunOnNode(f"the task function {qualname} is defined inside a function: it cannot be imported")
    owner = sys.modules.get(module)
    steps = _steps(_attribute(owner, qualname), function) if owner is not None else None
    if steps is None:
        raise CannotRunOnNode(f"{module}.{qualname} is not the task function, nor does it wrap it")
    main = main_record()
    if module == "__main__" and main is None:
        raise CannotRunOnNode("the task function is in __main__, which has no file to import (python -c, a notebook)")
    first = sys.path[0] if sys.path and sys.path[0] else os.getcwd()
    return {"module": module, "qualname": qualname, "unwrap": steps, "main": main, "path": os.path.abspath(first)}


def main_record() -> Optional[Dict[str, str]]:
    """How to import this process's ``__main__`` again: its module (``python -m``) or its script's file."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None) and spec.name != "__main__":
        return {"module": spec.name}
    path = getattr(main, "__file__", None)
    return {"file": os.path.abspath(path)} if path else None


def class_record(cls: type) -> Tuple[str, str]:
    """``(module, qualname)`` of a config's class, checked to be importable by them; else CannotRunOnNode."""
    module, qualname = getattr(cls, "__module__", None), getattr(cls, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        shown = qualname if isinstance(qualname, str) else repr(cls)
        raise CannotRunOnNode(f"the config class {shown} is defined inside a function: it cannot be imported")
    if _attribute(sys.modules.get(module), qualname) is not cls:
        raise CannotRunOnNode(f"the config class {module}.{qualname} cannot be imported by that name")
    return module, qualname


def load_function(record: Mapping[str, Any]) -> Callable:
    """The task function, imported as :func:`where` recorded it."""
    path = record.get("path")
    if path and path not in sys.path:
        sys.path.insert(0, path)
    module = load_module(record["module"], record.get("main"))
    found = _attribute(module, record["qualname"])
    for _ in range(int(record.get("unwrap") or 0)):
        found = getattr(found, "__wrapped__", None)
    if not callable(found):
        raise CannotRunOnNode(f"{module.__name__} has no function {record['qualname']} here")
    return found


def load_class(module: str, qualname: str, main: Optional[Mapping[str, str]]) -> type:
    found = _attribute(load_module(module, main), qualname)
    if not isinstance(found, type):
        raise CannotRunOnNode(f"the config class {module}.{qualname} cannot be imported here")
    return found


def load_module(name: str, main: Optional[Mapping[str, str]] = None) -> Any:
    """Module ``name``; ``__main__`` is the app's main module (``main``: how :func:`main_record` found it)."""
    try:
        if name != "__main__":
            return importlib.import_module(name)
        if not main:
            raise CannotRunOnNode("the app's __main__ has no file to import")
        if "module" in main:
            return importlib.import_module(main["module"])
        return _import_script(main["file"])
    except CannotRunOnNode:
        raise
    except Exception as error:  # ImportError, SyntaxError, anything its top level raises
        shown = name if name != "__main__" else (main or {}).get("file") or (main or {}).get("module")
        text = f"{type(error).__name__}: {error}".strip().splitlines()[0]
        raise CannotRunOnNode(f"importing {shown} failed: {text}") from None


def _import_script(path: str) -> Any:
    """The app's script, imported (once) as :data:`SCRIPT_NAME`."""
    module = sys.modules.get(SCRIPT_NAME)
    if module is not None and getattr(module, "__file__", None) == path:
        return module
    loader = importlib.machinery.SourceFileLoader(SCRIPT_NAME, path)  # any file name, .py or not
    spec = importlib.util.spec_from_file_location(SCRIPT_NAME, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[SCRIPT_NAME] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(SCRIPT_NAME, None)
        raise
    _loggers_as_main(module)
    return module


def _loggers_as_main(module: Any) -> None:
    """The script's module-level loggers (``logging.getLogger(__name__)``) named as when it runs as a
    script, so that its runs' log lines read the same (``[__main__][INFO]``)."""
    for name, value in list(vars(module).items()):
        if isinstance(value, logging.Logger) and value.name.split(".")[0] == SCRIPT_NAME:
            setattr(module, name, logging.getLogger("__main__" + value.name[len(SCRIPT_NAME):]))


def _attribute(owner: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        if owner is None:
            return None
        owner = getattr(owner, part, None)
    return owner


def _steps(found: Any, target: Callable) -> Optional[int]:
    """How many ``__wrapped__`` steps lead from ``found`` to ``target`` (None: it does not)."""
    for step in range(_MAX_WRAPPERS):
        if found is None:
            return None
        if found is target:
            return step
        found = getattr(found, "__wrapped__", None)
    return None
