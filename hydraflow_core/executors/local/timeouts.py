"""Per-run time limits of the local executor (``Options.timeout``, the launcher's ``timeout_min``).

The limit counts per run, from the moment the run starts (a task of K runs
gives each its own limit). The executor's loop looks at every busy slot at
least every 0.1 s; a run past its limit is stopped as a stop signal stops it
-- SIGTERM to the process group of its worker or command, SIGKILL after the
grace period -- and ends **timed out**:

- on a forked worker, the worker itself knows the limit (:func:`~.runone.run_one`)
  and records the run as timed out; a worker that had to be killed gets the
  launcher's record instead. The worker is replaced, and the runs of its task
  that had not started run on the new one;
- a command (a ``hydraflow run`` batch) is recorded timed out by this process;
- a replayed task (``start: exec``) is followed through the start records
  its app appends to its events file; once the app is gone, this process
  records the run as timed out (that end record comes after the app's own
  "interrupted" one, so it wins), keeps the runs that ended, and starts the
  app again for the runs that had not.

Runs in this process cannot be stopped: with a limit, a function's runs go to
a forked worker even when ``max_parallel`` is 1.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import time
from typing import Any, Dict, List, Optional, Tuple

from hydraflow_core.executors.base import RunResult
from hydraflow_core.executors.local.commands import result_from_record
from hydraflow_core.executors.local.runone import limit_text
from hydraflow_core.executors.local.slots import Handle
from hydraflow_core.manifest import COMPLETED, INTERRUPTED, TIMED_OUT, read_lines
from hydraflow_core.plan import Run

log = logging.getLogger(__name__)


class TimeLimits:
    """Enforcing ``Options.timeout`` (a mixin of :class:`~.executor.LocalExecutor`)."""

    def _watch_limits(self) -> None:
        """Stop each run past its limit; SIGKILL what the grace period did not end."""
        if self.timeout is None:
            return
        now = time.monotonic()
        for slot in self.slots:
            if slot.handle is None or slot.process is None:
                continue
            if slot.timed_out is not None:
                if slot.kill_at is not None and now >= slot.kill_at:
                    slot.kill_at = None
                    self._signal(slot, signal.SIGKILL)
                continue
            if self._replaying:
                self._follow(slot)
            if slot.current is None or slot.run_started is None or now - slot.run_started < self.timeout:
                continue
            slot.timed_out, slot.kill_at = slot.current, now + self.grace
            if self.uses_workers or self._replaying:  # a job's batches say it in their own summary
                log.warning(f"hydraflow: #{slot.current.number} {limit_text(self.timeout)}: stopping it")
            self._signal(slot, signal.SIGTERM)

    def _follow(self, slot) -> None:
        """A replayed task's current run, from the records its app appends to its events file."""
        try:
            with open(self.events.path_for(slot.process.pid), "rb") as file:
                file.seek(slot.followed)
                data = file.read()
        except OSError:  # not written yet
            return
        whole = data[:data.rfind(b"\n") + 1]  # a line being written is read next time
        if not whole:
            return
        slot.followed += len(whole)
        runs = {run.number: run for run in slot.handle.task.runs}
        for line in whole.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            run = runs.get(record.get("run"))
            if run is None:
                continue
            if record.get("event") == "start":
                ago = max(0.0, time.time() - float(record.get("time") or time.time()))
                slot.current, slot.run_started = run, time.monotonic() - ago
            elif run is slot.current:
                slot.run_started = None

    def _stopped_by_limit(self, slot, result: RunResult) -> bool:
        """True for a run of a task stopped for another run's limit that was interrupted by that stop
        (it began as the timed-out one ended): it stays in the task's runs, to run again."""
        return slot.timed_out is not None and result.run.number != slot.timed_out.number \
            and result.state == INTERRUPTED

    def _timed_out(self, slot, run: Run, record: bool, where: Optional[Dict[str, Any]] = None) -> RunResult:
        """The result of ``run``, stopped for its limit; ``record``: this process writes its end record."""
        error = limit_text(self.timeout)
        if record and self.events is not None:
            try:
                self.events.ended(run.number, TIMED_OUT, error)
            except OSError:
                pass  # a full disk is seen by the next run's records
        where = where or {}
        return RunResult(run, TIMED_OUT, error, job_id=slot.handle.id, log=where.get("log") or slot.log_path,
                         output_dir=where.get("output_dir"), started=where.get("time"))

    def _replayed_past_limit(self, slot) -> List[RunResult]:
        """A replayed task stopped for one run's limit: that run timed out, the runs that ended keep their
        records, and the app starts again for the others."""
        handle = slot.handle
        starts, ends = _records_of(self.events.path_for(slot.process.pid))
        results, rest = [], []
        for run in handle.task.runs:
            end = ends.get(run.number)
            if run.number == slot.timed_out.number and (end is None or end.get("state") != COMPLETED):
                results.append(self._timed_out(slot, run, record=True, where=starts.get(run.number)))
            elif end is not None and end.get("state") != INTERRUPTED:
                results.append(result_from_record(run, end, job_id=handle.id))
            else:
                rest.append(run)
        self._requeue(handle, rest)
        return results

    def _requeue(self, handle: Handle, runs: List[Run]) -> None:
        """Runs of a task stopped for another run's limit: first in the queue, as a task of their own."""
        if runs and self.machine_error is None:
            self.queue.appendleft(Handle(dataclasses.replace(handle.task, runs=tuple(runs))))


def _records_of(path) -> Tuple[Dict[int, Dict[str, Any]], Dict[int, Dict[str, Any]]]:
    """The start and end records of one process's events file, by run."""
    starts: Dict[int, Dict[str, Any]] = {}
    ends: Dict[int, Dict[str, Any]] = {}
    for record in read_lines(path):
        if record.get("event") == "start":
            starts[record.get("run")] = record
        elif record.get("event") == "end":
            ends[record.get("run")] = record
    return starts, ends
