"""One run with its start and end records, in whichever process runs it; how faults read in one line."""

from __future__ import annotations

import contextlib
import errno
import signal
import time
from typing import Any, Callable, Dict, Optional

from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.base import MachineError, RunError, RunResult
from hydraflow_core.executors.work import RunFunction
from hydraflow_core.manifest import COMPLETED, FAILED, INTERRUPTED, TIMED_OUT, EventLog
from hydraflow_core.plan import Run

#: errno values that mean the machine, not the run, is at fault.
MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EMFILE, errno.ENFILE}

__all__ = ["COMPLETED", "FAILED", "INTERRUPTED", "run_one", "machine_error", "one_line",
           "os_error_text", "signal_name", "limit_text", "record_start", "record_end"]


def machine_error(error: BaseException) -> Optional[str]:
    """The text of an error that is the machine's fault (disk full ...), else None."""
    if isinstance(error, OSError) and error.errno in MACHINE_ERRNOS:
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        if error.errno == errno.ENOSPC:
            return f"the disk is full: {type(error).__name__}: [Errno 28] No space left on device{where}"
        return f"{type(error).__name__}: {error}"
    return None


def one_line(error: BaseException) -> str:
    if isinstance(error, RunError):  # already in words
        return (str(error).strip().splitlines() or ["failed"])[0]
    text = f"{type(error).__name__}: {error}".strip()
    return text.splitlines()[0] if text else type(error).__name__


def os_error_text(error: OSError) -> str:
    """``[Errno 7] Argument list too long`` without the whole command line that caused it."""
    text = error.strerror or str(error)
    if error.errno == errno.E2BIG:
        text += " (the batch's arguments exceed what the OS passes to a program)"
    return f"[Errno {error.errno}] {text}" if error.errno else text


def signal_name(number: int) -> str:
    try:
        return f"killed by {signal.Signals(number).name}"
    except ValueError:  # pragma: no cover
        return f"killed by signal {number}"


def limit_text(seconds: float) -> str:
    """The error of a run stopped for its time limit: ``timed out after 0.02 min``."""
    return f"timed out after {seconds / 60:g} min"


def run_one(function: RunFunction, run: Run, events: Optional[EventLog],
            announce: Callable[[Run], None] = lambda run: None, limit: Optional[float] = None) -> RunResult:
    """One run with its start and end records (in whichever process runs it).

    Raises :class:`MachineError` for a fault of the machine, :class:`~.stop.Stopped`
    with the run's result (recorded as interrupted) when stopped. ``limit``: the
    run's time limit in seconds; a run stopped once past it ends timed out
    (the executor's loop stopped it: :mod:`.timeouts`).
    """
    started = time.time()
    try:
        prepared = function.prepare(run)
    except Exception as error:  # the run cannot even be composed: it fails alone
        if machine_error(error):
            raise MachineError(machine_error(error)) from error
        result = RunResult(run, FAILED, one_line(error), started=started)
        record_start(events, run, {})
        record_end(events, result)
        return result
    record_start(events, run, prepared)
    begun = time.monotonic()  # before announce(): once the executor finds the run past its limit, so is this
    try:
        announce(run)  # from here on, a death is this run's
    except OSError:  # the launcher is gone (a worker's pipe to it closed): the run stops before it began
        _record_quietly(events, RunResult(run, INTERRUPTED, "stopped by a signal", started=started,
                                          log=prepared.get("log"), output_dir=prepared.get("output_dir")))
        raise
    try:
        result = function.execute(run, prepared)
    except MachineError as error:  # the run function says the machine is at fault (its task's disk is full)
        _record_quietly(events, RunResult(run, FAILED, str(error)))
        raise
    except KeyboardInterrupt:
        state, error = (TIMED_OUT, limit_text(limit)) if _past(limit, begun) else (INTERRUPTED, "stopped by a signal")
        result = RunResult(run, state, error, started=started, log=prepared.get("log"),
                           output_dir=prepared.get("output_dir"))
        _record_quietly(events, result)
        raise stops.Stopped(stops.stopping() or signal.SIGINT, [result]) from None
    except Exception as error:  # outside the task function: Hydra's own writing, our code
        text = machine_error(error)
        if text:
            _record_quietly(events, RunResult(run, FAILED, text))
            raise MachineError(text) from error
        result = RunResult(run, FAILED, one_line(error), log=prepared.get("log"),
                           output_dir=prepared.get("output_dir"))
    if result.state != COMPLETED and _past(limit, begun) and stops.stopping() is not None:
        result.state, result.error = TIMED_OUT, limit_text(limit)  # the task turned the stop into an error
    result.started = started
    result.duration = time.time() - started
    record_end(events, result)
    return result


def _past(limit: Optional[float], since: float) -> bool:
    return limit is not None and time.monotonic() - since >= limit


def record_start(events: Optional[EventLog], run: Run, prepared: Dict[str, Any]) -> None:
    if events is None:
        return
    try:
        events.started(run.number, **{k: v for k, v in prepared.items() if k in ("output_dir", "log")})
    except OSError as error:
        raise MachineError(f"cannot write the manifest: {machine_error(error) or one_line(error)}") from error


def record_end(events: Optional[EventLog], result: RunResult) -> None:
    if events is None:
        return
    details: Dict[str, Any] = {k: v for k, v in (("log", result.log), ("output_dir", result.output_dir)) if v}
    if result.returned is not None:
        details["return_value"] = result.returned
    if result.returncode is not None:
        details["returncode"] = result.returncode
    try:
        events.ended(result.run.number, result.state, result.error, **details)
    except OSError as error:
        raise MachineError(f"cannot write the manifest: {machine_error(error) or one_line(error)}") from error


def _record_quietly(events: Optional[EventLog], result: RunResult) -> None:
    """Best effort (the disk may be full, the process stopping)."""
    with contextlib.suppress(OSError, MachineError):
        record_end(events, result)


def record_for(events: Optional[EventLog], run: Run, state: str, error: str) -> None:
    """The launcher's record of a run whose own process could not record it (it died)."""
    if events is not None:
        with contextlib.suppress(OSError):
            events.ended_for(run.number, state, error)
