"""Execute a plan's batches: ``run`` (subprocesses, N at once), ``call``
(in-process) and ``submit`` (one command for all batches).

Every batch runs even when another fails, and each result is written to the
run's ``summary.json`` as soon as it is known, so a crash or Ctrl-C never
loses what already ran.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Protocol, Sequence

from .errors import UsageError
from .plan import OUTPUT_ROOT, Batch, Plan, batches_file_text, submit_command

LOG_NAME = "hydraflow.log"
SUMMARY_NAME = "summary.json"
# States of a batch.
COMPLETED, FAILED, INTERRUPTED, NOT_STARTED = "completed", "failed", "interrupted", "not started"
_POLL_SECONDS = 0.05
_GRACE_SECONDS = 5.0


@dataclass
class BatchResult:
    index: int
    name: str
    state: str
    returncode: Optional[int]
    duration: float  # seconds
    log: Optional[str]  # path of the batch's log, relative to the job file's directory
    started_at: Optional[float] = None  # Unix time


class Events(Protocol):
    def started(self, batch: Batch) -> None: ...

    def finished(self, result: BatchResult) -> None: ...


def new_run_id(directory: Path, job: str) -> str:
    """A run id from the start time, unique among the job's earlier runs (its dir is created)."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    runs = directory / OUTPUT_ROOT / job
    for attempt in range(1000):
        run_id = stamp if attempt == 0 else f"{stamp}-{attempt}"
        try:
            (runs / run_id).mkdir(parents=True)
            return run_id
        except FileExistsError:
            continue
    raise UsageError(f"cannot create a run directory under {runs}")


class Summary:
    """``<run dir>/summary.json``, rewritten atomically after every batch."""

    def __init__(self, directory: Path, plan: Plan) -> None:
        self.path = directory / plan.run_dir / SUMMARY_NAME
        self.plan = plan
        self.results: Dict[int, BatchResult] = {
            b.index: BatchResult(b.index, b.name, NOT_STARTED, None, 0.0, None) for b in plan.batches
        }
        self.write()

    def record(self, result: BatchResult) -> None:
        self.results[result.index] = result
        self.write()

    def write(self) -> None:
        data = {
            "job": self.plan.job.name,
            "run_dir": self.plan.run_dir,
            "batches": [
                {**asdict(self.results[b.index]), "arguments": list(b.arguments)}
                for b in self.plan.batches
            ],
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.path)

    def ordered(self) -> List[BatchResult]:
        return [self.results[b.index] for b in self.plan.batches]


def run_commands(
    plan: Plan, command: Sequence[str], directory: Path, max_parallel: int, events: Events
) -> List[BatchResult]:
    """Run ``<command> -m <arguments>`` per batch, ``max_parallel`` at once."""
    summary = Summary(directory, plan)
    pending = deque(plan.batches)
    running: Dict[subprocess.Popen, tuple] = {}
    try:
        while pending or running:
            while pending and len(running) < max_parallel:
                batch = pending.popleft()
                log = Path(batch.sweep_dir) / LOG_NAME
                (directory / log).parent.mkdir(parents=True, exist_ok=True)
                start = time.time()
                with open(directory / log, "wb") as out:
                    try:
                        process = subprocess.Popen(
                            [*command, "-m", *batch.arguments], cwd=directory, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                        )
                    except OSError as error:  # e.g. E2BIG: this batch fails, the others run
                        out.write(f"hydraflow: cannot start the batch: {_os_error(error)}\n".encode())
                        events.started(batch)
                        _finish(summary, events, batch, FAILED, None, start, log)
                        continue
                running[process] = (batch, start, log)
                events.started(batch)
            for process in [p for p in running if p.poll() is not None]:
                batch, start, log = running.pop(process)
                state = COMPLETED if process.returncode == 0 else FAILED
                _finish(summary, events, batch, state, process.returncode, start, log)
            if running:
                time.sleep(_POLL_SECONDS)
    except KeyboardInterrupt:
        _stop(list(running))
        for process, (batch, start, log) in running.items():
            _finish(summary, events, batch, INTERRUPTED, process.returncode, start, log)
        raise Interrupted(summary.ordered()) from None
    return summary.ordered()


def _os_error(error: OSError) -> str:
    """``[Errno 7] Argument list too long`` without the whole command line that caused it."""
    text = error.strerror or str(error)
    if error.errno == 7:
        text += " (the batch's arguments exceed what the OS passes to a program)"
    return f"[Errno {error.errno}] {text}" if error.errno else text


def _finish(summary, events, batch, state, returncode, start, log) -> None:
    result = BatchResult(
        batch.index, batch.name, state, returncode, time.time() - start, str(log), started_at=start
    )
    summary.record(result)
    events.finished(result)


def _stop(processes: List[subprocess.Popen]) -> None:
    """Ctrl-C: interrupt every running batch (its whole process group), then kill stragglers."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + _GRACE_SECONDS
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Interrupted(Exception):
    """Ctrl-C during a run; carries what ran so far."""

    def __init__(self, results: List[BatchResult]) -> None:
        super().__init__("interrupted")
        self.results = results


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


def call_batches(plan: Plan, target: str, directory: Path, events: Events) -> List[BatchResult]:
    """Call ``module.function(arguments)`` once per batch, in this process, in ``directory``."""
    function = load_function(target, directory)
    summary = Summary(directory, plan)
    previous = os.getcwd()
    os.chdir(directory)
    try:
        for batch in plan.batches:
            log = Path(batch.sweep_dir) / LOG_NAME
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(f"{target}({list(batch.arguments)!r})\n")
            events.started(batch)
            start = time.time()
            state = COMPLETED
            try:
                with _output_to(log):
                    try:
                        function(list(batch.arguments))
                    except SystemExit as exit_:  # a Hydra app's main() exits
                        if exit_.code not in (None, 0):
                            raise
                    except KeyboardInterrupt:
                        raise
                    except BaseException:  # noqa: BLE001 - a failing batch must not stop the others
                        traceback.print_exc()
                        state = FAILED
            except KeyboardInterrupt:
                _finish(summary, events, batch, INTERRUPTED, None, start, log)
                raise Interrupted(summary.ordered()) from None
            _finish(summary, events, batch, state, None, start, log)
    finally:
        os.chdir(previous)
    return summary.ordered()


def submit(plan: Plan, directory: Path) -> int:
    """Write the batches file and run the submit command once (placeholders filled in)."""
    path = Path(plan.run_dir) / "batches.txt"
    (directory / path).write_text(batches_file_text(plan))
    try:
        process = subprocess.Popen(submit_command(plan), cwd=directory, start_new_session=True)
    except OSError as error:
        raise UsageError(f"{plan.job.where}: jobs.{plan.job.name}.submit: cannot start the command: "
                         f"{_os_error(error)}") from None
    try:
        return process.wait()
    except KeyboardInterrupt:
        _stop([process])
        raise Interrupted([]) from None

