"""One launch into a sweep's (or a job run's) directory: its claim, its attempt, its manifest, its retries.

The Hydra launcher (behind any sweeper), ``hydraflow run`` and ``hydraflow
retry`` all launch through a :class:`Session`. On :meth:`Session.open` it
claims the directory for this process (a second launch is refused, a dead
one's claim taken over), creates the manifest -- an earlier sweep in the same
directory is moved aside whole, or resumed (:mod:`hydraflow_core.earlier`) --
or joins the recorded one (a retry, a replayed app), and records this
launch's attempt. :meth:`Session.planned`
writes each task's runs to the plan before the task is dispatched, so
``hydraflow status``, ``retry`` and ``cancel`` know every run; and
:meth:`Session.dispatch` runs the tasks through an executor, then again, each
round a new attempt, the runs that failed (``max_retries``).
"""

from __future__ import annotations

import atexit
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

from hydraflow_core import manifest
from hydraflow_core.earlier import Earlier, set_aside, settled
from hydraflow_core.errors import HydraflowError
from hydraflow_core.manifest import EventLog
from hydraflow_core.manifest import replay as replays
from hydraflow_core.manifest.claim import NAME as CLAIM_NAME, Claim
from hydraflow_core.plan import Run, Task

#: Plan records are written this many runs ahead of dispatch, in one append each.
PLAN_BLOCK = 1000

log = logging.getLogger(__name__)


class Session:
    """A launch into ``sweep_dir``; ``settings`` (the launcher's, JSON-able) go into each attempt's record."""

    def __init__(self, sweep_dir: Path, settings: Optional[Dict[str, Any]] = None, replay: bool = True,
                 resume: bool = False) -> None:
        """``replay``: this process may be an app started again for recorded runs (``HYDRAFLOW_REPLAY``);
        ``resume``: a new sweep continues an earlier one recorded in ``sweep_dir`` (:attr:`earlier`)."""
        self.sweep_dir = Path(sweep_dir).absolute()
        self.settings = dict(settings or {})
        self.spec = replays.current_spec() if replay else None
        if self.spec is not None and Path(self.spec.sweep_dir).absolute() != self.sweep_dir:
            raise HydraflowError(f"{replays.ENV} names a replay of {self.spec.sweep_dir}, but this sweep's directory "
                                 f"is {self.sweep_dir}; unset {replays.ENV} to run a new sweep")
        self.record = manifest.Manifest(self.sweep_dir)
        self.events: Optional[EventLog] = None
        self.header: Dict[str, Any] = {}
        self.claim: Optional[Claim] = None
        self.executor: Any = None  # the last executor dispatch() ran: asked how the launch ended
        self.resume = resume
        self.earlier: Optional[Earlier] = None  # resumed: the earlier sweep's runs, placed by place()

    @property
    def replaying(self) -> bool:
        """True in an app started to run recorded runs again (a retry, a fresh interpreter, a Slurm task)."""
        return self.spec is not None

    def open(self, attempt: Dict[str, Any], header: Optional[Callable[[], Dict[str, Any]]] = None) -> EventLog:
        """The event log of this process's attempt (claim, manifest and attempt made on the first call).

        ``header()`` is the new manifest's header, made unless this process
        joins a recorded sweep (a replay, or ``header`` None: a job's retry).
        ``attempt`` is what the attempt records besides its number, host and
        pid (``kind``, ``argv`` ...). One of a launch's own tasks (a Slurm
        array task, a fresh interpreter) records no attempt: it writes into
        the one that started it.
        """
        if self.events is not None:
            return self.events
        spec = self.spec
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        if spec is not None and spec.reason == "task":
            number = int(spec.attempt or 1)
        else:
            self.claim = Claim.take(self.sweep_dir)
            atexit.register(self.close)  # behind another sweeper nobody says when the last launch was
            if spec is None and header is not None and self.record.exists:  # the same directory again
                state = settled(self.sweep_dir)
                if self.resume:
                    self.earlier = Earlier.of(state)
                    attempt = {**attempt, "kind": "resume"}
                else:
                    aside = set_aside(state)
                    (aside / manifest.DIR_NAME / CLAIM_NAME).unlink(missing_ok=True)  # this launch's claim moved
                    self.claim = Claim.take(self.sweep_dir)
            if spec is None and header is not None and self.earlier is None:
                self.record.create(header())
            if spec is not None:
                attempt = {**attempt, "kind": spec.reason, "numbers": list(spec.runs)}
            number = self.record.begin_attempt({**attempt, **({"launcher": self.settings} if self.settings else {})})
        self.header = manifest.read_header(self.sweep_dir)
        self.events = self._log(number)
        return self.events

    def again(self, numbers: List[int]) -> EventLog:
        """A new attempt of this launch, for runs that failed (``max_retries``); their records go on there."""
        number = self.record.begin_attempt({"kind": "retry", "auto": True, "runs": len(numbers),
                                            "launcher": self.settings, "argv": sys.argv, "numbers": list(numbers)})
        self.events = self._log(number)
        return self.events

    def _log(self, attempt: int) -> EventLog:
        job_id, slurm = manifest.slurm_ids()  # on a Slurm node: recorded with every run
        return EventLog(self.sweep_dir, attempt, job_id=job_id, details=slurm)

    def add_plan(self, records: Iterable[Dict[str, Any]]) -> None:
        """Plan records written at once (a job's batches: ``run``, ``overrides``, ``group``, ``task`` ...)."""
        self.record.add_plan(records)

    def planned(self, tasks: Iterable[Task]) -> Iterator[Task]:
        """Tasks, each one's runs in the manifest's plan before it is dispatched (a replay's are there)."""
        if self.replaying:
            yield from tasks
            return
        block: List[Task] = []
        count = 0
        for task in tasks:
            block.append(task)
            count += len(task.runs)
            if count >= PLAN_BLOCK:
                self.record.add_plan(_plan_records(block))
                yield from block
                block, count = [], 0
        self.record.add_plan(_plan_records(block))
        yield from block

    def dispatch(self, backend: str, work: Any, options: Any, tasks: Iterable[Task], take: Callable[[Any], None],
                 max_retries: int = 0, repack: Callable[[List[Run]], Iterable[Task]] = lambda runs: (),
                 on_start: Optional[Callable[[Task], None]] = None) -> None:
        """Every task through ``backend``'s executor; each run's :class:`~hydraflow_core.executors.RunResult`
        to ``take`` as it ends.

        A run that failed (a state of :data:`~hydraflow_core.manifest.states.RETRIED`)
        goes again, in a new attempt, up to ``max_retries`` times, as the
        tasks ``repack(runs)`` makes of them; ``take`` gets each run's last
        result. A stop signal raises :class:`~hydraflow_core.executors.Stopped`
        after the late results went to ``take``; :attr:`executor` is the last
        executor, asked how the launch ended (``left_running``, ``machine_error`` ...).
        """
        from hydraflow_core.executors import create, drain
        from hydraflow_core.manifest.states import RETRIED

        failed: List[Any] = []
        retries_left = max_retries

        def taken(result: Any) -> None:
            if retries_left and result.state in RETRIED:
                failed.append(result)  # goes again: its sweeper sees only its last result
                return
            take(result)

        def started(events: EventLog) -> Any:
            self.executor = create(backend, work, options, events)
            self.executor.on_start = on_start
            return self.executor

        try:
            drain(started(self.events), tasks, taken)
            while failed and not self.executor.machine_error:
                runs = sorted((result.run for result in failed), key=lambda run: run.number)
                failed.clear()
                retries_left -= 1
                log.warning(f"hydraflow: {len(runs)} run(s) failed; running them again (retry "
                            f"{max_retries - retries_left} of {max_retries}): "
                            + " ".join(f"#{run.number}" for run in runs[:20]) + (" ..." if len(runs) > 20 else ""))
                drain(started(self.again([run.number for run in runs])), repack(runs), taken)
        except BaseException:
            for result in failed:  # stopped before they went again: they stay failed
                take(result)
            raise

    def replay_command(self, extra: List[str]) -> tuple:
        """The app's recorded command, for a task started again elsewhere (``start: exec``, a Slurm node)."""
        return replays.replay_command(self.header, extra)

    def replay_env(self) -> dict:
        """The environment its replays need besides this process's (see replay.launch_record)."""
        return replays.replay_env(self.header)

    def close(self) -> None:
        """The end of this process's launches: the claim is let go."""
        if self.claim is not None:
            self.claim.release()
            self.claim = None


def _plan_records(tasks: List[Task]) -> Iterator[Dict[str, Any]]:
    for task in tasks:
        for run in task.runs:
            yield {"run": run.number, "overrides": list(run.overrides), "group": run.group, "task": task.index}
