"""Forked workers: long-lived processes that run a function's tasks (nothing pickled in).

A worker is forked on demand (never more than there are tasks), inherits
the run function, and runs each task it is sent, run by run, reporting on a
pipe: ``S<n>`` (run n started: from here on its death is that run's),
``R<result>`` (a run ended), ``D`` (the task is done), ``F<text>`` (a fault of
the machine). A worker that dies fails only the run it was running -- unless
its own end record says otherwise -- and the rest of its task runs on
another worker; a crash loop or a machine fault stops restarting them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import struct
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any, Dict, List, Optional, Sequence

from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.base import MachineError, RunResult
from hydraflow_core.executors.local.shares import pin
from hydraflow_core.executors.local.runone import (limit_text, one_line, record_for, run_one,
                                                   signal_name)
from hydraflow_core.executors.work import RunFunction
from hydraflow_core.manifest import FAILED, INTERRUPTED, LOST, TIMED_OUT, EventLog
from hydraflow_core.plan import Task

from hydraflow_core.executors.local.slots import Handle

log = logging.getLogger(__name__)

_WAIT_SECONDS = 0.1  # the longest wait before a stop signal is looked at
_NO_PROGRESS_SECONDS = 60.0  # workers killed (not crashing) this long with no run ending: give up


def _encode(result: RunResult) -> bytes:
    """A result as two pickles: the plain record (always loads) and the runner's value."""
    value, result.value = result.value, None
    header = pickle.dumps(result)
    try:
        payload = pickle.dumps(value)
    except Exception as error:  # an unpicklable return value: its text travels instead
        payload = pickle.dumps(f"<not picklable: {one_line(error)}> {value!r}"[:2000])
    return struct.pack("!I", len(header)) + header + payload


def _decode(data: bytes) -> RunResult:
    (size,) = struct.unpack("!I", data[:4])
    result: RunResult = pickle.loads(data[4:4 + size])
    try:
        result.value = pickle.loads(data[4 + size:])
    except Exception as error:  # e.g. an exception class whose __init__ needs other arguments
        result.value = None
        note = f"(its result could not be unpickled: {one_line(error)})"
        result.error = f"{result.error} {note}" if result.error else note
    return result


def die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies (no orphaned workers)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - not Linux: the closed pipe still ends the worker
        pass


def _worker(conn: Connection, inherited: List[Connection], function: RunFunction,
            events: Optional[EventLog], env: Dict[str, str], limit: Optional[float] = None,
            cpus: Sequence[int] = ()) -> None:
    die_with_parent()
    pin(cpus)  # its share of the node's CPUs (parallel_per_task), if it was given one
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # its own process group: a stop reaches the task's subprocesses too
    for other in inherited:  # the parent's pipe ends: keep none, so a dead parent means EOF here
        other.close()
    os.environ.update(env)
    stops.install()  # a stop raises inside a task only; between runs the loop below sees it
    try:
        while stops.stopping() is None:
            task = conn.recv()
            if task is None:
                break
            for run in task.runs:
                if stops.stopping() is not None:
                    break
                result = run_one(function, run, events, lambda r: conn.send_bytes(b"S%d" % r.number), limit)
                conn.send_bytes(b"R" + _encode(result))
            conn.send_bytes(b"D")
    except MachineError as error:
        with contextlib.suppress(OSError):
            conn.send_bytes(b"F" + str(error).encode())
        os._exit(3)
    except stops.Stopped as stop:
        with contextlib.suppress(OSError):
            for result in stop.results:  # the run cut short
                conn.send_bytes(b"R" + _encode(result))
    except (EOFError, BrokenPipeError, OSError, KeyboardInterrupt):
        pass  # the parent is gone or stopping: leave quietly
    except BaseException:  # pragma: no cover - a bug of ours: say it, in the worker's stderr
        traceback.print_exc()
        os._exit(4)
    os._exit(0)  # skip the interpreter's clean-up: Hydra's atexit hooks belong to the parent


class WorkerSlots:
    """The local executor's slots as forked workers (a mixin of :class:`~.executor.LocalExecutor`)."""

    def _start_worker(self, slot, handle) -> None:
        if slot.process is None or not slot.process.is_alive():
            self._fork_worker(slot)
        handle.id = f"local:{slot.process.pid}"
        try:
            slot.conn.send(handle.task)
        except (BrokenPipeError, OSError):  # died while idle: noticed in _step, the task requeued
            pass

    def _fork_worker(self, slot) -> None:
        parent, child = self._fork.Pipe()
        inherited = [s.conn for s in self.slots if s.conn is not None] + [parent]
        process = self._fork.Process(target=_worker, args=(child, inherited, self.work.function, self.events,
                                                            self._env(slot.index), self.timeout,
                                                            self._cpus(slot.index)),
                                     name=f"hydraflow-worker-{slot.index}", daemon=False)
        process.start()
        self.workers_started += 1
        with contextlib.suppress(OSError):
            os.setpgid(process.pid, process.pid)  # also here: no signal sent before the child's own call is lost
        child.close()
        slot.process, slot.conn = process, parent

    def _step_workers(self, busy: List[Any], timeout: Optional[float]) -> None:
        waitables = {}
        for slot in busy:
            waitables[slot.conn] = slot
            waitables[slot.process.sentinel] = slot
        ready = wait(list(waitables), _WAIT_SECONDS if timeout is None else min(timeout, _WAIT_SECONDS))
        for slot in {waitables[r] for r in ready}:
            self._read(slot)

    def _read(self, slot) -> None:
        """Every message the worker has sent; then, if it died, what its death means."""
        try:
            while slot.conn.poll():
                message = slot.conn.recv_bytes()
                kind, body = message[:1], message[1:]
                if kind == b"S":
                    number = int(body)
                    slot.current = next((r for r in slot.remaining if r.number == number), None)
                    slot.run_started = time.monotonic()
                elif kind == b"R":
                    result = _decode(body)
                    result.job_id = slot.handle.id
                    slot.current = slot.run_started = None
                    if self._stopped_by_limit(slot, result):
                        continue  # it runs again, with the rest of the task
                    slot.remaining = [r for r in slot.remaining if r.number != result.run.number]
                    slot.handle.results.append(result)
                    self._ready.append(result)
                    self._deaths_in_a_row = 0
                    self._last_progress = time.monotonic()
                elif kind == b"D":
                    if slot.timed_out is not None:  # the stop came between two runs: the rest runs elsewhere
                        self._requeue(slot.handle, slot.remaining)
                        self._finish_slot(slot, [])
                        self._kill(slot)  # replaced by a new worker
                        return
                    self._finish_slot(slot, [])
                    return
                elif kind == b"F":
                    self.machine_error = body.decode(errors="replace")
        except (EOFError, OSError):
            pass
        if slot.handle is not None and not slot.process.is_alive():
            self._worker_died(slot)

    def _worker_died(self, slot) -> None:
        slot.process.join()
        code = slot.process.exitcode
        how = f"exit code {code}" if code is None or code >= 0 else signal_name(-code)
        pid = slot.process.pid
        results = []
        if slot.timed_out is not None and slot.current is not None and slot.current.number != slot.timed_out.number:
            slot.current = None  # it began as the stop for another run's limit came: it runs again, below
        if slot.current is not None:
            run = slot.current
            own = self.events.has_ended(pid, run.number) if self.events is not None else None
            if own is not None:  # it recorded its end, then died before telling us
                state, error = own.get("state", FAILED), own.get("error")
            elif slot.timed_out is not None and slot.timed_out.number == run.number:  # killed after its grace
                state, error = TIMED_OUT, limit_text(self.timeout)
                record_for(self.events, run, state, error)
            elif self._stopping is not None:  # killed by our stop (a second signal): interrupted, not failed
                state, error = INTERRUPTED, f"stopped by {signal.Signals(self._stopping).name}"
                record_for(self.events, run, state, error)
            elif self.machine_error is not None:
                state, error = FAILED, self.machine_error
            else:
                state, error = FAILED, f"the worker running #{run.number} died ({how})"
                log.error(f"hydraflow: {error}")
                record_for(self.events, run, state, error)
            result = RunResult(run, state, error, job_id=slot.handle.id)
            details = self._describe(run)
            result.log, result.output_dir = details.get("log"), details.get("output_dir")
            results.append(result)
            slot.remaining = [r for r in slot.remaining if r.number != run.number]
        if slot.cancelled:  # cancel(): what had not run is interrupted, not run elsewhere
            for run in slot.remaining:
                error = "cancelled"
                record_for(self.events, run, INTERRUPTED, error)
                results.append(RunResult(run, INTERRUPTED, error, job_id=slot.handle.id))
            slot.remaining = []
        elif slot.timed_out is not None:
            pass  # stopped for a run's time limit, not a crash: the rest runs on a new worker
        elif not results and slot.remaining:  # died between two runs, or setting up the next one
            self._deaths_in_a_row += 1
            killed = code is not None and code < 0 and -code in (signal.SIGKILL, signal.SIGTERM)
            suspect = slot.remaining[0]
            if not killed:  # a crash (not the OOM killer, not a user's kill) before a run started
                self._suspects[suspect.number] = self._suspects.get(suspect.number, 0) + 1
            if self._suspects.get(suspect.number, 0) >= 3:  # always dies setting up this run: its cause
                error = f"the worker died ({how}) 3 times setting up #{suspect.number}"
                record_for(self.events, suspect, FAILED, error)
                results.append(RunResult(suspect, FAILED, error, job_id=slot.handle.id))
                slot.remaining = slot.remaining[1:]
            elif (self._deaths_in_a_row > 3 * self.max_parallel + 5 and self.machine_error is None
                  and (not killed or time.monotonic() - self._last_progress > _NO_PROGRESS_SECONDS)):
                # A crash loop, or kills (the OOM killer) with no run ending for a long time: stop restarting.
                self.machine_error = f"workers keep dying before any run ends (last: {how})"
        rest = slot.remaining
        handle = slot.handle
        self._release(slot)
        handle.results.extend(results)
        self._ready.extend(results)
        if rest and self.machine_error is None:  # the rest of its task runs on another worker
            again = Handle(Task(handle.task.index, handle.task.group, tuple(rest)))
            self.queue.appendleft(again)
            handle.state = LOST if not results else FAILED
        else:
            handle.finish()

