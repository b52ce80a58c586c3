"""The local executor: tasks in this process, on forked workers, or as subprocesses.

One scheduling loop for every local use:

- **function tasks** (the Hydra plugin): each run is ``function.prepare`` then
  ``function.execute``, in this process (``max_parallel`` 1) or on up to
  ``max_parallel`` long-lived workers forked on demand (never more than there
  are tasks), so nothing is pickled on the way in;
- **command tasks** (``hydraflow run``): each task is one subprocess in its
  own session, its output in its log.

Whatever runs a run writes its start and end to the manifest's events (a
worker, or this process for in-process runs and commands), so the record
stays true when this process is gone. A worker that dies fails only the run
it was running -- the one it said it had started, unless its own end record
says otherwise -- and the rest of its task is run. A fault of the machine
(disk full) stops dispatching and is named once, instead of restarting
workers for ever. :meth:`LocalExecutor.stop` ends everything on a signal.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import os
import pickle
import signal
import struct
import subprocess
import time
import traceback
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Protocol, Sequence, Tuple

from hydraflow_core.manifest import EventLog, process_start
from hydraflow_core.plan import Run, Task
from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.base import COMPLETED, FAILED, INTERRUPTED, LOST, RUNNING, Handle, MachineError, RunResult

log = logging.getLogger(__name__)

GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.05  # commands: how often their exit is checked
_WAIT_SECONDS = 0.1  # workers: the longest wait before a stop signal is looked at
_NO_PROGRESS_SECONDS = 60.0  # workers killed (not crashing) this long with no run ending: give up
#: errno values that mean the machine, not the run, is at fault.
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EMFILE, errno.ENFILE}


class RunFunction(Protocol):
    """How one run executes: ``prepare`` (cheap: where it will write), then ``execute``."""

    def prepare(self, run: Run) -> Dict[str, Any]:
        """Details for the run's start record (``output_dir``, ``log``); may raise: the run fails."""

    def execute(self, run: Run, prepared: Dict[str, Any]) -> RunResult:
        """Run it; a failure of the run itself is a FAILED result, not an exception."""


class RunInterrupted(KeyboardInterrupt):
    """A stop arrived during a run; carries that run's (recorded) INTERRUPTED result."""

    def __init__(self, result: RunResult) -> None:
        super().__init__("interrupted")
        self.result = result


class CommandRunner:
    """Command tasks: ``spec(task)`` gives ``(argv, cwd, log path, extra environment)``."""

    def __init__(self, spec: Callable[[Task], Tuple[Sequence[str], str, str, Dict[str, str]]]) -> None:
        self.spec = spec


def machine_error(error: BaseException) -> Optional[str]:
    """The text of an error that is the machine's fault (disk full ...), else None."""
    if isinstance(error, OSError) and error.errno in _MACHINE_ERRNOS:
        return f"{type(error).__name__}: {error}"
    return None


def one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text.splitlines()[0] if text else type(error).__name__


def run_one(function: RunFunction, run: Run, events: Optional[EventLog],
            announce: Callable[[Run], None] = lambda run: None) -> RunResult:
    """One run with its start and end records (in whichever process runs it).

    Raises :class:`MachineError` for a fault of the machine, KeyboardInterrupt
    (after recording the run as interrupted) when stopped.
    """
    started = time.time()
    try:
        prepared = function.prepare(run)
    except Exception as error:  # the run cannot even be composed: it fails alone
        if machine_error(error):
            raise MachineError(machine_error(error)) from error
        result = RunResult(run, FAILED, one_line(error), started=started)
        _record(events, run, {}, result)
        return result
    _record_start(events, run, prepared)
    announce(run)  # from here on, a death is this run's
    try:
        result = function.execute(run, prepared)
    except MachineError as error:  # the run function says the machine is at fault (its task's disk is full)
        with contextlib.suppress(OSError, MachineError):  # best effort: the disk may be full
            _record_end(events, RunResult(run, FAILED, str(error)))
        raise
    except KeyboardInterrupt:
        result = RunResult(run, INTERRUPTED, "stopped by a signal", started=started,
                           log=prepared.get("log"), output_dir=prepared.get("output_dir"))
        with contextlib.suppress(OSError, MachineError):
            _record_end(events, result)
        raise RunInterrupted(result) from None
    except Exception as error:  # outside the task function: Hydra's own writing, our code
        text = machine_error(error)
        if text:
            with contextlib.suppress(OSError, MachineError):  # best effort: the disk may be full
                _record_end(events, RunResult(run, FAILED, text))
            raise MachineError(text) from error
        result = RunResult(run, FAILED, one_line(error), log=prepared.get("log"),
                           output_dir=prepared.get("output_dir"))
    result.started = started
    result.duration = time.time() - started
    _record_end(events, result)
    return result


def _record_start(events: Optional[EventLog], run: Run, prepared: Dict[str, Any]) -> None:
    if events is None:
        return
    try:
        events.started(run.number, **{k: v for k, v in prepared.items() if k in ("output_dir", "log")})
    except OSError as error:
        raise MachineError(f"cannot write the manifest: {one_line(error)}") from error


def _record_end(events: Optional[EventLog], result: RunResult) -> None:
    if events is None:
        return
    details = {k: v for k, v in (("log", result.log), ("output_dir", result.output_dir)) if v}
    if result.returned is not None:
        details["return_value"] = result.returned
    try:
        events.ended(result.run.number, result.state, result.error, **details)
    except OSError as error:
        raise MachineError(f"cannot write the manifest: {one_line(error)}") from error


def _record(events: Optional[EventLog], run: Run, prepared: Dict[str, Any], result: RunResult) -> None:
    _record_start(events, run, prepared)
    _record_end(events, result)


# --------------------------------------------------------------------------- worker side


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


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies (no orphaned workers)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - not Linux: the closed pipe still ends the worker
        pass


def _worker(conn: Connection, inherited: List[Connection], function: RunFunction,
            events: Optional[EventLog], env: Dict[str, str]) -> None:
    _die_with_parent()
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
                result = run_one(function, run, events, lambda r: conn.send_bytes(b"S%d" % r.number))
                conn.send_bytes(b"R" + _encode(result))
            conn.send_bytes(b"D")
    except MachineError as error:
        with contextlib.suppress(OSError):
            conn.send_bytes(b"F" + str(error).encode())
        os._exit(3)
    except RunInterrupted as stop:
        with contextlib.suppress(OSError):
            conn.send_bytes(b"R" + _encode(stop.result))
    except (EOFError, BrokenPipeError, OSError, KeyboardInterrupt):
        pass  # the parent is gone or stopping: leave quietly
    except BaseException:  # pragma: no cover - a bug of ours: say it, in the worker's stderr
        traceback.print_exc()
        os._exit(4)
    os._exit(0)  # skip the interpreter's clean-up: Hydra's atexit hooks belong to the parent


# --------------------------------------------------------------------------- parent side


class _Slot:
    """One place a task can run: a forked worker or a command subprocess."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.handle: Optional[Handle] = None
        self.current: Optional[Run] = None  # the run it said it started
        self.remaining: List[Run] = []  # runs of its task not ended yet
        self.process: Any = None
        self.conn: Optional[Connection] = None
        self.log_file: Any = None
        self.log_path: Optional[str] = None
        self.started_at = 0.0
        self.cancelled = False


class LocalExecutor:
    """Tasks on this machine, at most ``max_parallel`` at once."""

    def __init__(self, *, function: Optional[RunFunction] = None, commands: Optional[CommandRunner] = None,
                 max_parallel: int = 1, gpus: Sequence[str] = (), events: Optional[EventLog] = None,
                 grace: float = GRACE_SECONDS) -> None:
        if (function is None) == (commands is None):
            raise ValueError("give a run function or a command runner")
        self.function, self.commands = function, commands
        self.max_parallel = max_parallel
        self.gpus = list(gpus)
        self.events = events
        self.grace = grace
        self.in_process = function is not None and max_parallel == 1
        self.slots: List[_Slot] = []
        self.queue: Deque[Handle] = deque()  # submitted, not started (requeued rests first)
        self.source: Optional[Iterator[Task]] = None
        self.machine_error: Optional[str] = None
        self._stopping: Optional[int] = None
        self._deaths_in_a_row = 0
        self._last_progress = time.monotonic()
        self._suspects: Dict[int, int] = {}  # run -> deaths of workers about to start it
        self.workers_started = 0  # forked so far (a new one replaces each that died)
        self.on_start: Optional[Callable[[Handle], None]] = None  # told when a task starts
        self._fork = multiprocessing.get_context("fork")
        self._ready: List[RunResult] = []

    # ----- public API

    def submit(self, task: Task) -> Handle:
        handle = Handle(task, self._wait_for, self._cancel)
        self.queue.append(handle)
        return handle

    def stream(self, tasks: Iterable[Task] = ()) -> Iterator[RunResult]:
        """Run ``tasks`` (pulled lazily) and every submitted task; yield each run's result as it ends."""
        self.source = iter(tasks)
        while True:
            stops.check()  # a stop signal that came outside a task is raised here
            started = self._fill()
            while self._ready:
                yield self._ready.pop(0)
            if self._busy():
                self._step(timeout=None)
            elif started == 0 and not self.queue:
                return

    def stop(self, signum: int = signal.SIGINT) -> List[RunResult]:
        """Stop everything: busy tasks get the signal, a grace period, then SIGKILL.

        Returns the results that came in meanwhile, and an INTERRUPTED result
        for every run that was running and did not end by itself.
        """
        self.source = iter(())
        self.queue.clear()
        self._stopping = signum
        late: List[RunResult] = list(self._ready)
        self._ready.clear()
        forced = []
        undo = stops.on_second_signal(lambda: forced.append(self._kill_all()))
        try:
            for slot in self.slots:
                if slot.handle is None:
                    self._kill(slot)
                else:
                    self._signal(slot, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)
            deadline = time.monotonic() + self.grace
            while self._busy() and not forced and time.monotonic() < deadline:
                try:
                    self._step(timeout=min(0.1, max(0.0, deadline - time.monotonic())))
                except KeyboardInterrupt:  # a second Ctrl-C without stop_signals: no more waiting
                    forced.append(self._kill_all())
                late.extend(self._ready)
                self._ready.clear()
        finally:
            undo()
        for slot in self.slots:
            if slot.handle is not None:
                late.extend(self._abandon(slot, INTERRUPTED, f"stopped by {signal.Signals(signum).name}"))
            self._kill(slot)
        return late

    def close(self) -> None:
        """Let idle workers go (the end of a sweep)."""
        for slot in self.slots:
            if slot.conn is not None:
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
        for slot in self.slots:
            if slot.process is not None and slot.conn is not None:
                slot.process.join(timeout=10)
            self._kill(slot)
        self.slots = []

    # ----- scheduling

    def _busy(self) -> bool:
        return any(slot.handle is not None for slot in self.slots)

    def _next(self) -> Optional[Handle]:
        if self.queue:
            return self.queue.popleft()
        if self.machine_error is not None or self.source is None:
            return None
        task = next(self.source, None)
        return None if task is None else Handle(task, self._wait_for, self._cancel)

    def _fill(self) -> int:
        """Start queued tasks on free slots (starting a worker only for a task); how many started."""
        started = 0
        while True:
            slot = next((s for s in self.slots if s.handle is None), None)
            if slot is None and len(self.slots) >= self.max_parallel:
                return started
            handle = self._next()
            if handle is None:
                return started
            if slot is None:
                slot = _Slot(len(self.slots))
                self.slots.append(slot)
            if self.on_start is not None:
                self.on_start(handle)
            if self.in_process:
                self._run_here(handle)
            else:
                self._start(slot, handle)
            started += 1
            if self.in_process:
                return started  # one task at a time, its results yielded before the next

    def _run_here(self, handle: Handle) -> None:
        handle.id, handle.state = f"local:{os.getpid()}", RUNNING
        env = self._env(0)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            for run in handle.task.runs:
                try:
                    result = run_one(self.function, run, self.events)
                except RunInterrupted as stop:
                    stop.result.job_id = handle.id
                    handle.results.append(stop.result)
                    self._ready.append(stop.result)
                    handle.state = INTERRUPTED
                    raise
                except MachineError as error:
                    self.machine_error = str(error)
                    result = RunResult(run, FAILED, str(error))
                    if hasattr(self.function, "describe"):
                        details = self.function.describe(run)
                        result.log, result.output_dir = details.get("log"), details.get("output_dir")
                result.job_id = handle.id
                handle.results.append(result)
                self._ready.append(result)
                if self.machine_error:
                    break
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        handle.finish()

    def _env(self, slot_index: int) -> Dict[str, str]:
        if not self.gpus:
            return {}
        return {"CUDA_VISIBLE_DEVICES": self.gpus[slot_index % len(self.gpus)]}

    def _start(self, slot: _Slot, handle: Handle) -> None:
        slot.handle, slot.remaining, slot.current = handle, list(handle.task.runs), None
        slot.started_at, slot.cancelled = time.time(), False
        handle.state = RUNNING
        if self.commands is not None:
            self._start_command(slot, handle)
            return
        if slot.process is None or not slot.process.is_alive():
            self._fork_worker(slot)
        handle.id = f"local:{slot.process.pid}"
        try:
            slot.conn.send(handle.task)
        except (BrokenPipeError, OSError):  # died while idle: noticed in _step, the task requeued
            pass

    def _fork_worker(self, slot: _Slot) -> None:
        parent, child = self._fork.Pipe()
        inherited = [s.conn for s in self.slots if s.conn is not None] + [parent]
        process = self._fork.Process(target=_worker, args=(child, inherited, self.function, self.events,
                                                            self._env(slot.index)),
                                     name=f"hydraflow-worker-{slot.index}", daemon=False)
        process.start()
        self.workers_started += 1
        with contextlib.suppress(OSError):
            os.setpgid(process.pid, process.pid)  # also here: no signal sent before the child's own call is lost
        child.close()
        slot.process, slot.conn = process, parent

    def _start_command(self, slot: _Slot, handle: Handle) -> None:
        argv, cwd, log_path, env = self.commands.spec(handle.task)
        slot.log_path = log_path
        run = handle.task.runs[0]
        try:
            os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
            slot.log_file = open(log_path, "ab")
            slot.process = subprocess.Popen(
                list(argv), cwd=cwd, stdout=slot.log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **self._env(slot.index), **env},
                preexec_fn=_die_with_parent,
            )
        except OSError as error:  # cannot start: this task fails alone, with the reason
            text = machine_error(error) or f"cannot start {argv[0]}: {os_error_text(error)}"
            if slot.log_file is not None:
                with contextlib.suppress(OSError):
                    slot.log_file.write(f"hydraflow: cannot start the batch: {os_error_text(error)}\n".encode())
                slot.log_file.close()
                slot.log_file = None
            if machine_error(error):
                self.machine_error = text
            result = RunResult(run, FAILED, text, log=log_path, started=time.time())
            with contextlib.suppress(OSError):
                if self.events is not None:
                    self.events.ended(run.number, FAILED, text, log=log_path)
            self._finish_slot(slot, [result])
            return
        handle.id = f"local:{slot.process.pid}"
        slot.current = run
        if self.events is not None:
            try:
                self.events.started(run.number, log=log_path, pid=slot.process.pid,
                                    pid_start=process_start(slot.process.pid), job_id=handle.id)
            except OSError as error:
                self.machine_error = f"cannot write the manifest: {one_line(error)}"

    def _step(self, timeout: Optional[float]) -> None:
        """Wait for something to happen on a busy slot, and handle it."""
        busy = [s for s in self.slots if s.handle is not None]
        if self.commands is not None:
            time.sleep(_POLL_SECONDS if timeout is None else min(timeout, _POLL_SECONDS))
            for slot in busy:
                if slot.process.poll() is not None:
                    self._command_done(slot)
            return
        waitables = {}
        for slot in busy:
            waitables[slot.conn] = slot
            waitables[slot.process.sentinel] = slot
        ready = wait(list(waitables), _WAIT_SECONDS if timeout is None else min(timeout, _WAIT_SECONDS))
        for slot in {waitables[r] for r in ready}:
            self._read(slot)

    def _command_done(self, slot: _Slot) -> None:
        code = slot.process.returncode
        slot.log_file.close()
        slot.log_file = None
        run = slot.handle.task.runs[0]
        state = COMPLETED if code == 0 else FAILED
        error = None if code == 0 else (f"exit code {code}" if code > 0 else _signal_name(-code))
        if code != 0 and self._stopping is not None:  # it ended because we stopped it
            state, error = INTERRUPTED, f"stopped by {signal.Signals(self._stopping).name}"
        elif code != 0 and slot.cancelled:
            state, error = INTERRUPTED, "cancelled"
        result = RunResult(run, state, error, log=slot.log_path, started=slot.started_at,
                           duration=time.time() - slot.started_at, job_id=slot.handle.id, returncode=code)
        if self.events is not None:
            try:
                self.events.ended(run.number, state, error, returncode=code)
            except OSError as err:
                self.machine_error = f"cannot write the manifest: {one_line(err)}"
        slot.process = None
        self._finish_slot(slot, [result])

    def _read(self, slot: _Slot) -> None:
        """Every message the worker has sent; then, if it died, what its death means."""
        try:
            while slot.conn.poll():
                message = slot.conn.recv_bytes()
                kind, body = message[:1], message[1:]
                if kind == b"S":
                    number = int(body)
                    slot.current = next((r for r in slot.remaining if r.number == number), None)
                elif kind == b"R":
                    result = _decode(body)
                    result.job_id = slot.handle.id
                    slot.current = None
                    slot.remaining = [r for r in slot.remaining if r.number != result.run.number]
                    slot.handle.results.append(result)
                    self._ready.append(result)
                    self._deaths_in_a_row = 0
                    self._last_progress = time.monotonic()
                elif kind == b"D":
                    self._finish_slot(slot, [])
                    return
                elif kind == b"F":
                    self.machine_error = body.decode(errors="replace")
        except (EOFError, OSError):
            pass
        if slot.handle is not None and not slot.process.is_alive():
            self._worker_died(slot)

    def _worker_died(self, slot: _Slot) -> None:
        slot.process.join()
        code = slot.process.exitcode
        how = f"exit code {code}" if code is None or code >= 0 else _signal_name(-code)
        pid = slot.process.pid
        results = []
        if slot.current is not None:
            run = slot.current
            own = self.events.has_ended(pid, run.number) if self.events is not None else None
            if own is not None:  # it recorded its end, then died before telling us
                state, error = own.get("state", FAILED), own.get("error")
            elif self._stopping is not None:  # killed by our stop (a second signal): interrupted, not failed
                state, error = INTERRUPTED, f"stopped by {signal.Signals(self._stopping).name}"
                with contextlib.suppress(OSError):
                    if self.events is not None:
                        self.events.ended_for(run.number, state, error)
            elif self.machine_error is not None:
                state, error = FAILED, self.machine_error
            else:
                state, error = FAILED, f"the worker running #{run.number} died ({how})"
                log.error(f"hydraflow: {error}")
                with contextlib.suppress(OSError):
                    if self.events is not None:
                        self.events.ended_for(run.number, state, error)
            result = RunResult(run, state, error, job_id=slot.handle.id)
            if self.function is not None and hasattr(self.function, "describe"):
                details = self.function.describe(run)
                result.log, result.output_dir = details.get("log"), details.get("output_dir")
            results.append(result)
            slot.remaining = [r for r in slot.remaining if r.number != run.number]
        if slot.cancelled:  # cancel(): what had not run is interrupted, not run elsewhere
            for run in slot.remaining:
                error = "cancelled"
                with contextlib.suppress(OSError):
                    if self.events is not None:
                        self.events.ended_for(run.number, INTERRUPTED, error)
                results.append(RunResult(run, INTERRUPTED, error, job_id=slot.handle.id))
            slot.remaining = []
        elif not results and slot.remaining:  # died between two runs, or setting up the next one
            self._deaths_in_a_row += 1
            killed = code is not None and code < 0 and -code in (signal.SIGKILL, signal.SIGTERM)
            suspect = slot.remaining[0]
            if not killed:  # a crash (not the OOM killer, not a user's kill) before a run started
                self._suspects[suspect.number] = self._suspects.get(suspect.number, 0) + 1
            if self._suspects.get(suspect.number, 0) >= 3:  # always dies setting up this run: its cause
                error = f"the worker died ({how}) 3 times setting up #{suspect.number}"
                with contextlib.suppress(OSError):
                    if self.events is not None:
                        self.events.ended_for(suspect.number, FAILED, error)
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
            again = Handle(Task(handle.task.index, handle.task.group, tuple(rest)), self._wait_for, self._cancel)
            self.queue.appendleft(again)
            handle.state = LOST if not results else FAILED
        else:
            handle.finish()

    def _finish_slot(self, slot: _Slot, results: List[RunResult]) -> None:
        handle = slot.handle
        handle.results.extend(results)
        self._ready.extend(results)
        slot.handle, slot.current, slot.remaining = None, None, []
        handle.finish()

    def _release(self, slot: _Slot) -> None:
        if slot.conn is not None:
            slot.conn.close()
        slot.process = slot.conn = None
        slot.handle, slot.current, slot.remaining = None, None, []

    def _abandon(self, slot: _Slot, state: str, error: str) -> List[RunResult]:
        """Results for a task's runs that were running when it was stopped."""
        results = []
        if slot.current is not None:
            run = slot.current
            pid = slot.process.pid if slot.process is not None else None
            own = self.events.has_ended(pid, run.number) if (self.events and pid and self.commands is None) else None
            if own is None:
                with contextlib.suppress(OSError):
                    if self.events is not None:
                        self.events.ended_for(run.number, state, error)
                results.append(RunResult(run, state, error, job_id=slot.handle.id, log=slot.log_path))
            else:
                results.append(RunResult(run, own.get("state", state), own.get("error"), job_id=slot.handle.id))
        handle = slot.handle
        handle.results.extend(results)
        handle.state = INTERRUPTED
        slot.handle, slot.current, slot.remaining = None, None, []
        return results

    # ----- signals and processes

    def _signal(self, slot: _Slot, signum: int) -> None:
        if slot.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(slot.process.pid, signum)

    def _kill(self, slot: _Slot) -> None:
        process = slot.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                process.kill()
            if self.commands is not None:
                process.wait()
            else:
                process.join()
        if slot.conn is not None:
            slot.conn.close()
        if slot.log_file is not None:
            slot.log_file.close()
        slot.process = slot.conn = slot.log_file = None

    def _kill_all(self) -> bool:
        for slot in self.slots:
            if slot.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(slot.process.pid, signal.SIGKILL)
        return True

    # ----- handles

    def _wait_for(self, handle: Handle) -> None:
        """Drive the executor until ``handle`` ends (results stay queued for :meth:`stream`)."""
        if self.source is None:
            self.source = iter(())
        while not handle.done():
            started = self._fill()
            if self._busy():
                self._step(timeout=None)
            elif started == 0:
                return

    def _cancel(self, handle: Handle) -> bool:
        if handle in self.queue:
            self.queue.remove(handle)
            handle.state = INTERRUPTED
            return True
        for slot in self.slots:
            if slot.handle is handle:
                slot.cancelled = True
                self._signal(slot, signal.SIGTERM)
                return True
        return False


def os_error_text(error: OSError) -> str:
    """``[Errno 7] Argument list too long`` without the whole command line that caused it."""
    text = error.strerror or str(error)
    if error.errno == errno.E2BIG:
        text += " (the batch's arguments exceed what the OS passes to a program)"
    return f"[Errno {error.errno}] {text}" if error.errno else text


def _signal_name(number: int) -> str:
    try:
        return f"killed by {signal.Signals(number).name}"
    except ValueError:  # pragma: no cover
        return f"killed by signal {number}"
