"""What one Slurm array task runs on its node, from a spec file; nothing of the app pickled.

submitit pickles a :class:`NodeTask` -- the path of a spec file -- and calls
it with the task's index. The spec names, per task, one of

- a **function** (a sweep, when the task function can be imported again):
  the spec's ``runner`` (the plugin's, so that this module stays free of
  Hydra) is imported and called here; it imports the app's task function and
  runs each run of the task on the config written at submission, with
  Hydra's ``run_job``, recording each run. No second Python, no Hydra
  start-up, no composition. Where the runner cannot find the function or a
  config's class (:class:`CannotRunOnNode`), the task replays instead, and
  says why on its stderr;
- a **replay** (a sweep): the app started again with ``HYDRAFLOW_REPLAY``
  naming the spec and ``HYDRAFLOW_REPLAY_TASK`` the task, so the app runs
  exactly that task's runs and records each (the same path as ``retry``),
  with this process's Python (``slurm.python`` may name another than the
  submitting one's); or
- a **command** (a job's batch): run into the batch's log; this process
  records the batch's start and end.

The task ends FAILED in Slurm's accounting when any of its runs failed (an
exception reaches submitit, which exits non-zero), so ``sacct``, dashboards
and ``mail_type=FAIL`` tell the truth. The warning signal Slurm sends before
the time limit (SIGUSR2, ``signal_delay_s``) is handled here, not by the app
(which ignores it, as do forked workers): while ``max_num_timeout`` allows,
the runs are stopped (each records itself as interrupted) and the task is
requeued, to run only its unfinished runs; after that the runs go on until
Slurm's limit ends them, and they show as timed out.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.work import CannotRunOnNode
from hydraflow_core.manifest import COMPLETED, FAILED, EventLog, disk_is_full, read, replay, slurm_ids

#: Set on the app's command: the replayed app knows it runs in a Slurm task (and ignores SIGUSR2).
NODE_ENV = "HYDRAFLOW_SLURM_NODE"
WARNING_SIGNAL = signal.SIGUSR2


class TaskFailed(Exception):
    """Some run of the task failed: the task must end FAILED in Slurm's accounting."""


class NodeTask:
    """Picklable: the spec's path and how many requeues after a timeout are allowed."""

    def __init__(self, spec: str, max_num_timeout: int = 0) -> None:
        self.spec = spec
        self.max_num_timeout = max_num_timeout
        self._process: Optional[subprocess.Popen] = None
        self._pid = os.getpid()  # the task's own process (forked workers inherit the warning's handler)
        self._here = False  # the runs run in this process and its forked workers (a function spec)
        self._requeue_wanted = False

    def __getstate__(self) -> Dict[str, Any]:
        return {"spec": self.spec, "max_num_timeout": self.max_num_timeout}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["spec"], state.get("max_num_timeout", 0))

    def __call__(self, index: int) -> int:
        spec = json.loads(Path(self.spec).read_text())
        self._pid = os.getpid()
        signal.signal(WARNING_SIGNAL, self._warned)  # after submitit's own handler: ours wins
        kind = spec.get("kind")
        if kind == "command":  # the task's batches, one after another; the worst exit code
            code = max((self._command(spec, entry) for entry in spec["batches"][index]), key=abs)
        elif kind == "function":
            code = self._function(spec, index)
        else:
            code = self._replay(spec, index)
        if code != 0:
            where = spec.get("sweep_dir") or spec.get("run_dir")
            if where and disk_is_full(where):
                raise TaskFailed(f"hydraflow: the disk holding {where} is full")
            raise TaskFailed(f"hydraflow: task {index} ended with exit code {code}: some of its runs failed")
        return code

    def _function(self, spec: Dict[str, Any], index: int) -> int:
        """The spec's runner runs the task's runs in this process (see the module's doc)."""
        os.environ.update({replay.ENV: self.spec, replay.TASK_ENV: str(index), NODE_ENV: "1"})  # as a replay has
        module, _, name = str(spec["runner"]).partition(":")
        try:
            try:
                runner = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError) as error:
                raise CannotRunOnNode(f"cannot import the runner {spec['runner']}: {error}") from None
            self._here = True
            return int(runner(self.spec, spec, index))
        except CannotRunOnNode as why:
            sys.stderr.write(f"hydraflow: task {index} starts the app again (replay): {why}\n")
            self._here = False
            return self._replay(spec, index)
        except stops.Stopped as stop:
            if self._requeue_wanted:  # the runs stopped and recorded themselves: now requeue
                self._requeue(int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0))
            raise TaskFailed(f"hydraflow: task {index} was stopped by {signal.Signals(stop.signum).name}") from None
        finally:
            self._here = False

    def _replay(self, spec: Dict[str, Any], index: int) -> int:
        # The spec's env is the submitting process's own (sbatch may be set not to pass the environment on).
        env = {**os.environ, **spec.get("env", {}), replay.ENV: self.spec, replay.TASK_ENV: str(index), NODE_ENV: "1"}
        # This process's Python: the one the node runs (slurm.python), which may not be the submitting one's.
        return self._run([sys.executable, *spec["argv"][1:]], spec["cwd"], env, None)

    def _command(self, spec: Dict[str, Any], entry: Dict[str, Any]) -> int:
        job_id, ids = slurm_ids()
        events = EventLog(spec["run_dir"], spec["attempt"], job_id=job_id, details=ids)
        if any(r.number == entry["run"] and r.state == COMPLETED for r in read(spec["run_dir"]).runs):
            return 0  # requeued after it had completed
        Path(entry["log"]).parent.mkdir(parents=True, exist_ok=True)
        events.started(entry["run"], log=entry["log"])
        with open(entry["log"], "ab") as log:
            code = self._run(entry["argv"], entry["cwd"], {**os.environ, **entry.get("env", {}), NODE_ENV: "1"}, log)
        events.ended(entry["run"], COMPLETED if code == 0 else FAILED, None if code == 0 else f"exit code {code}",
                     returncode=code)
        return code

    def _run(self, argv, cwd: str, env: Dict[str, str], log: Any) -> int:
        def ignore_warning() -> None:  # in the child: Slurm's early warning is this task's business
            signal.signal(WARNING_SIGNAL, signal.SIG_IGN)

        self._process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=log,
                                         stderr=subprocess.STDOUT if log is not None else None,
                                         stdin=subprocess.DEVNULL, preexec_fn=ignore_warning)
        while True:
            try:
                return self._process.wait()
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for old Pythons
                continue

    def _warned(self, signum: int, frame: Any) -> None:
        """The time limit is near: requeue while allowed (the runs stop first, recording themselves)."""
        if os.getpid() != self._pid:
            return  # a forked worker: its task's process handles the warning
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
        if restarts >= self.max_num_timeout:
            sys.stderr.write(f"hydraflow: the time limit is near and the task was requeued {restarts} time(s) "
                             f"(max_num_timeout={self.max_num_timeout}): it runs on until Slurm stops it\n")
            return
        if self._here:  # stopped as by SIGTERM: the executor stops the runs, then _function requeues
            self._requeue_wanted = True
            stops.request(signal.SIGTERM)
            return
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: the app records the run it was running as interrupted
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self._requeue(restarts)

    def _requeue(self, restarts: int) -> None:
        job = os.environ.get("SLURM_ARRAY_JOB_ID")
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        target = f"{job}_{task}" if job and task else os.environ.get("SLURM_JOB_ID", "")
        sys.stderr.write(f"hydraflow: the time limit is near: requeuing {target} "
                         f"({restarts + 1} of {self.max_num_timeout})\n")
        subprocess.run(["scontrol", "requeue", target], check=False)
        os._exit(0)  # Slurm requeues this task; the next run of it skips the runs that completed
