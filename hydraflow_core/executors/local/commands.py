"""Command slots: a task as one subprocess in its own session, its output in its log.

Two kinds of work run this way (:mod:`hydraflow_core.executors.work`):

- a :class:`~hydraflow_core.executors.work.CommandWork` task (a job's batch) is
  one command; this process records its start and end (exit code);
- a :class:`~hydraflow_core.executors.work.ReplayWork` task (``start: exec``) is
  the app started again with ``HYDRAFLOW_REPLAY`` naming the task's runs: the
  app records each run itself, and when it exits this process reads those
  records; a run it did not end fails with the app's exit status.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Any, Dict, List, Optional

from hydraflow_core.executors.base import RunResult
from hydraflow_core.executors.local.runone import limit_text, machine_error, one_line, os_error_text, signal_name
from hydraflow_core.executors.local.workers import die_with_parent
from hydraflow_core.executors.work import Command, CommandWork, ReplayWork
from hydraflow_core.manifest import (COMPLETED, FAILED, INTERRUPTED, TIMED_OUT, EXEC, EventLog, process_start,
                                     replay)
from hydraflow_core.manifest import folder as manifest_folder
from hydraflow_core.plan import Task

_POLL_SECONDS = 0.05  # how often the commands' exits are checked


def replay_command(work: ReplayWork, task: Task, attempt: int) -> Command:
    """The app again for ``task``'s recorded runs: a spec naming them, a log in ``.hydraflow/exec/``."""
    folder = manifest_folder(work.sweep_dir, EXEC)
    folder.mkdir(parents=True, exist_ok=True)
    spec = replay.write_task_spec(folder / f"replay-{attempt}-{task.index}.json", work.sweep_dir, attempt,
                                  [list(task.numbers)])
    return Command(tuple(work.argv), work.cwd, str(folder / f"task-{attempt}-{task.index}.log"),
                   {**work.env, replay.ENV: str(spec), replay.TASK_ENV: "0"})


class CommandSlots:
    """The local executor's slots as subprocesses (a mixin of :class:`~.executor.LocalExecutor`)."""

    def _command_of(self, task: Task) -> Command:
        if isinstance(self.work, CommandWork):
            return self.work.command(task)
        return replay_command(self.work, task, self.events.attempt if self.events is not None else 1)

    @property
    def _replaying(self) -> bool:
        return isinstance(self.work, ReplayWork)

    def _start_command(self, slot, handle) -> None:
        command = self._command_of(handle.task)
        slot.log_path = command.log
        run = handle.task.runs[0]
        try:
            os.makedirs(os.path.dirname(command.log) or ".", exist_ok=True)
            slot.log_file = open(command.log, "ab")
            slot.process = subprocess.Popen(
                list(command.argv), cwd=command.cwd, stdout=slot.log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, **self._env(slot.index), **command.env}, preexec_fn=die_with_parent,
            )
        except OSError as error:  # cannot start: this task fails alone, with the reason
            text = machine_error(error) or f"cannot start {command.argv[0]}: {os_error_text(error)}"
            if slot.log_file is not None:
                with contextlib.suppress(OSError):
                    slot.log_file.write(f"hydraflow: cannot start the batch: {os_error_text(error)}\n".encode())
                slot.log_file.close()
                slot.log_file = None
            if machine_error(error):
                self.machine_error = text
            results = [RunResult(r, FAILED, text, log=command.log, started=time.time()) for r in handle.task.runs]
            if self.events is not None:
                with contextlib.suppress(OSError):
                    for result in results:
                        self.events.ended(result.run.number, FAILED, text, log=command.log)
            self._finish_slot(slot, results)
            return
        handle.id = f"local:{slot.process.pid}"
        slot.current = run
        if not self._replaying:  # a replayed app's runs are timed from their own start records
            slot.run_started = time.monotonic()
        if self.events is not None and not self._replaying:  # a replayed app records its own runs
            try:
                self.events.started(run.number, log=command.log, pid=slot.process.pid,
                                    pid_start=process_start(slot.process.pid), job_id=handle.id)
            except OSError as error:
                self.machine_error = f"cannot write the manifest: {machine_error(error) or one_line(error)}"

    def _step_commands(self, busy: List[Any], timeout: Optional[float]) -> None:
        time.sleep(_POLL_SECONDS if timeout is None else min(timeout, _POLL_SECONDS))
        for slot in busy:
            if slot.process.poll() is not None:
                self._command_done(slot)

    def _command_done(self, slot) -> None:
        code = slot.process.returncode
        slot.log_file.close()
        slot.log_file = None
        state = COMPLETED if code == 0 else FAILED
        error = None if code == 0 else (f"exit code {code}" if code > 0 else signal_name(-code))
        if code != 0 and self._stopping is not None:  # it ended because we stopped it
            state, error = INTERRUPTED, f"stopped by {signal.Signals(self._stopping).name}"
        elif code != 0 and slot.cancelled:
            state, error = INTERRUPTED, "cancelled"
        elif code != 0 and slot.timed_out is not None:
            state, error = TIMED_OUT, limit_text(self.timeout)
        handle = slot.handle
        if self._replaying and slot.timed_out is not None:
            results = self._replayed_past_limit(slot)
        elif self._replaying:
            results = self._replayed(slot, state, error)
        else:
            run = handle.task.runs[0]
            results = [RunResult(run, state, error, log=slot.log_path, started=slot.started_at,
                                 duration=time.time() - slot.started_at, job_id=handle.id, returncode=code)]
            if self.events is not None:
                try:
                    self.events.ended(run.number, state, error, returncode=code)
                except OSError as err:
                    self.machine_error = f"cannot write the manifest: {machine_error(err) or one_line(err)}"
        slot.process = None
        self._finish_slot(slot, results)

    def _replayed(self, slot, state: str, error: Optional[str]) -> List[RunResult]:
        """Each run of a replayed task, from the end records the app wrote (or its exit status)."""
        handle = slot.handle
        pid = slot.process.pid
        ended = EventLog(self.work.sweep_dir, self.events.attempt).ends_of(pid) if self.events is not None else {}
        results = []
        for run in handle.task.runs:
            record = ended.get(run.number)
            if record is not None:
                results.append(result_from_record(run, record, job_id=handle.id))
                continue
            why = error or state
            result = RunResult(run, INTERRUPTED if state == INTERRUPTED else FAILED,
                               f"the worker process ended ({why}) before run #{run.number} ended; "
                               f"its output: {slot.log_path}", log=slot.log_path, job_id=handle.id)
            results.append(result)
        return results


def result_from_record(run, record: Dict[str, Any], job_id: Optional[str] = None) -> RunResult:
    """A run's result from the end record the process that ran it wrote (a fresh app, a Slurm task)."""
    return RunResult(run, record.get("state", FAILED), record.get("error"), log=record.get("log"),
                     output_dir=record.get("output_dir"), job_id=record.get("job_id") or job_id,
                     returned=record.get("return_value"), returncode=record.get("returncode"))
