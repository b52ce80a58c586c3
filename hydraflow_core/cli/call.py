"""A ``call`` job's batches: ``module.function`` imported from the job file's directory and called once per
batch with the batch's argument list, in this process, its output into the batch's log."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

from hydraflow_core import default_launcher
from hydraflow_core.errors import UsageError
from hydraflow_core.executors import COMPLETED, FAILED, RunResult
from hydraflow_core.executors.stop import in_task
from hydraflow_core.jobs.batches import LOG_NAME, Batch
from hydraflow_core.plan import Run


def load_function(target: str, directory: Path) -> Callable[[List[str]], object]:
    """Import ``module.function`` (the job file's directory comes first on ``sys.path``)."""
    module_name, _, function_name = target.rpartition(".")
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise UsageError(f"call: cannot import '{module_name}': {error}") from None
    except SyntaxError as error:  # the module's own error: message, file and line
        where = f"{_shown(error.filename, directory)}:{error.lineno}" if error.filename else module_name
        raise UsageError(f"call: importing '{module_name}' failed: {where}: "
                         f"{type(error).__name__}: {error.msg}") from None
    except Exception as error:  # noqa: BLE001 - any error the module raises while importing
        frames = traceback.extract_tb(error.__traceback__)
        own = [f for f in frames if "importlib" not in f.filename]
        frame = (own or frames)[-1]
        raise UsageError(f"call: importing '{module_name}' failed: {_shown(frame.filename, directory)}:"
                         f"{frame.lineno}: {type(error).__name__}: {error}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise UsageError(f"call: '{module_name}' has no function '{function_name}'")
    return function


def _shown(filename: str, directory: Path) -> str:
    """A module's file relative to the job file's directory when it is under it."""
    try:
        return str(Path(filename).resolve().relative_to(directory))
    except ValueError:
        return filename


@contextlib.contextmanager
def _output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


class CallFunction:
    """A ``call`` job's batches as runs of the in-process executor, each one's output to its log."""

    def __init__(self, function: Callable[[List[str]], object], target: str, directory: Path,
                 batches: Dict[int, Batch], lead: Sequence[str] = ()) -> None:
        self.function, self.target, self.directory, self.batches = function, target, directory, batches
        self.lead = tuple(lead)  # the job's lead: words the list starts with (see jobs.model.Job)

    def arguments(self, run: Run) -> List[str]:
        return [*self.lead, *self.batches[run.number].arguments]

    def prepare(self, run: Run) -> Dict[str, Any]:
        batch = self.batches[run.number]
        log = self.directory / batch.sweep_dir / LOG_NAME
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"{self.target}({self.arguments(run)!r})\n")
        return {"log": str(log)}

    def execute(self, run: Run, prepared: Dict[str, Any]) -> RunResult:
        state, error = COMPLETED, None
        with _output_to(Path(prepared["log"])), default_launcher.set_here():
            try:
                in_task(self.function)(self.arguments(run))
            except SystemExit as exit_:  # a Hydra app's main() exits
                if exit_.code not in (None, 0):
                    state, error = FAILED, f"SystemExit: {exit_.code}"
            except KeyboardInterrupt:
                raise
            except BaseException as failure:  # noqa: BLE001 - a failing batch must not stop the others
                traceback.print_exc()
                state, error = FAILED, f"{type(failure).__name__}: {failure}".splitlines()[0]
        return RunResult(run, state, error, log=prepared["log"])
