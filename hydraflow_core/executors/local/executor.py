"""The local executor: tasks in this process, on forked workers, or as subprocesses.

One scheduling loop for every local use; the slots it fills are forked
workers (:mod:`.workers`, for a run function) or subprocesses
(:mod:`.commands`, for commands and replays). Whatever runs a run writes its
start and end to the manifest's events (a worker, the replayed app, or this
process for in-process runs and commands), so the record stays true when this
process is gone. A fault of the machine (disk full) stops dispatching and is
named once. :meth:`LocalExecutor.stop` ends everything on a signal: a grace
period, then SIGKILL; a second signal kills at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections import deque
from typing import Any, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.base import Executor, MachineError, Options, RunResult
from hydraflow_core.executors.local import shares
from hydraflow_core.executors.local.commands import CommandSlots
from hydraflow_core.executors.local.runone import record_for, run_one
from hydraflow_core.executors.stop import Stopped
from hydraflow_core.executors.local.slots import Handle, Slot
from hydraflow_core.executors.local.timeouts import TimeLimits
from hydraflow_core.executors.local.workers import WorkerSlots
from hydraflow_core.executors.work import CommandWork, FunctionWork, ReplayWork
from hydraflow_core.manifest import FAILED, INTERRUPTED, RUNNING, EventLog
from hydraflow_core.plan import Run, Task


class LocalExecutor(WorkerSlots, CommandSlots, TimeLimits, Executor):
    """Tasks on this machine, at most ``max_parallel`` at once (default 1: a function's runs in this process,
    unless runs have a time limit: only a worker can be stopped)."""

    backend = "local"

    def __init__(self, work: Any, options: Options = Options(), events: Optional[EventLog] = None) -> None:
        if not isinstance(work, (FunctionWork, CommandWork, ReplayWork)):
            raise TypeError(f"the local executor runs FunctionWork, CommandWork or ReplayWork, not {work!r}")
        self.work = work
        self.max_parallel = options.max_parallel or 1
        self.gpus = list(options.gpus)
        self.cpus = list(options.cpus)
        self.events = events
        self.grace = options.grace
        self.timeout = options.timeout  # seconds per run (see .timeouts)
        self.uses_workers = isinstance(work, FunctionWork)
        self.in_process = self.uses_workers and self.max_parallel == 1 and self.timeout is None
        self.slots: List[Slot] = []
        self.queue: Deque[Handle] = deque()  # not started yet (the rest of a dead worker's task first)
        self.source: Iterator[Task] = iter(())
        self.machine_error: Optional[str] = None
        self._stopping: Optional[int] = None
        self._deaths_in_a_row = 0
        self._last_progress = time.monotonic()
        self._suspects: Dict[int, int] = {}  # run -> deaths of workers about to start it
        self.workers_started = 0  # forked so far (a new one replaces each that died)
        self.on_start: Optional[Any] = None  # called with each Task as it starts
        self._fork = multiprocessing.get_context("fork")
        self._ready: List[RunResult] = []

    def stream(self, tasks: Iterable[Task] = ()) -> Iterator[RunResult]:  # type: ignore[override]
        """Run ``tasks`` (pulled lazily) and every submitted task; yield each run's result as it ends."""
        self.source = iter(tasks)
        while True:
            stops.check()  # a stop signal that came outside a task is raised here
            started = self._fill()
            while self._ready:
                yield self._ready.pop(0)
            if self._busy():
                self._step(timeout=None)
                self._watch_limits()
            elif started == 0 and not self.queue:
                return

    def stop(self, signum: int = signal.SIGINT) -> List[RunResult]:  # type: ignore[override]
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
        return None if task is None else Handle(task)

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
                slot = Slot(len(self.slots))
                self.slots.append(slot)
            if self.on_start is not None:
                self.on_start(handle.task)
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
                    result = run_one(self.work.function, run, self.events)
                except Stopped as stop:
                    for result in stop.results:  # the run cut short
                        result.job_id = handle.id
                        handle.results.append(result)
                        self._ready.append(result)
                    handle.state = INTERRUPTED
                    raise
                except MachineError as error:
                    self.machine_error = str(error)
                    result = RunResult(run, FAILED, str(error))
                    details = self._describe(run)
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
        env = shares.worker_env(self._cpus(slot_index))
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot_index % len(self.gpus)]
        return env

    def _cpus(self, slot_index: int) -> Tuple[int, ...]:
        """The CPUs a worker pins itself to (none: it is not pinned)."""
        return tuple(self.cpus[slot_index % len(self.cpus)]) if self.cpus else ()

    def _start(self, slot: Slot, handle: Handle) -> None:
        slot.handle, slot.remaining, slot.current = handle, list(handle.task.runs), None
        slot.started_at, slot.cancelled = time.time(), False
        slot.clear_limit()
        handle.state = RUNNING
        if self.uses_workers:
            self._start_worker(slot, handle)
        else:
            self._start_command(slot, handle)

    def _step(self, timeout: Optional[float]) -> None:
        """Wait for something to happen on a busy slot, and handle it."""
        busy = [s for s in self.slots if s.handle is not None]
        if self.uses_workers:
            self._step_workers(busy, timeout)
        else:
            self._step_commands(busy, timeout)

    def _describe(self, run: Run) -> Dict[str, Any]:
        """Where a run writes, for a run whose own process could not say (it died)."""
        describe = getattr(self.work, "describe", None) or getattr(getattr(self.work, "function", None),
                                                                   "describe", None)
        return describe(run) if describe is not None else {}

    def _finish_slot(self, slot: Slot, results: List[RunResult]) -> None:
        handle = slot.handle
        handle.results.extend(results)
        self._ready.extend(results)
        slot.handle, slot.current, slot.remaining = None, None, []
        handle.finish()

    def _release(self, slot: Slot) -> None:
        if slot.conn is not None:
            slot.conn.close()
        slot.process = slot.conn = None
        slot.handle, slot.current, slot.remaining = None, None, []

    def _abandon(self, slot: Slot, state: str, error: str) -> List[RunResult]:
        """Results for a task's runs that were running when it was stopped."""
        results = []
        if slot.current is not None:
            run = slot.current
            pid = slot.process.pid if slot.process is not None else None
            own = self.events.has_ended(pid, run.number) if (self.events and pid and self.uses_workers) else None
            if own is None:
                if not self._replaying:  # a replayed app's runs are read from its own records
                    record_for(self.events, run, state, error)
                results.append(RunResult(run, state, error, job_id=slot.handle.id, log=slot.log_path))
            else:
                results.append(RunResult(run, own.get("state", state), own.get("error"), job_id=slot.handle.id))
        handle = slot.handle
        handle.results.extend(results)
        handle.state = INTERRUPTED
        slot.handle, slot.current, slot.remaining = None, None, []
        return results

    # ----- signals and processes

    def _signal(self, slot: Slot, signum: int) -> None:
        if slot.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(slot.process.pid, signum)

    def _kill(self, slot: Slot) -> None:
        process = slot.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                process.kill()
            if not self.uses_workers:
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
