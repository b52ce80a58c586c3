"""The local executor with real processes: forked workers, in-process runs, commands."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from hydraflow_core.executors import (
    COMPLETED, FAILED, INTERRUPTED, Command, CommandWork, FunctionWork, Options, RunResult,
)
from hydraflow_core.manifest import TIMED_OUT
from hydraflow_core.executors.local.executor import LocalExecutor
from hydraflow_core.executors.stop import in_task
from hydraflow_core.manifest import EventLog, Manifest, process_start, read
from hydraflow_core.plan import Task, plan


class TwoArgError(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


class Function:
    """Runs 'k=v' overrides: marks its start and end in ``marks``, acts on ``do=...``."""

    def __init__(self, marks: Path) -> None:
        self.marks = marks

    def prepare(self, run):
        return {"output_dir": str(self.marks / str(run.number))}

    def execute(self, run, prepared):
        return in_task(self._execute)(run, prepared)

    def _execute(self, run, prepared):
        args = dict(o.split("=", 1) for o in run.overrides)
        (self.marks / f"started-{run.number}").touch()
        do = args.get("do", "")
        if do == "die":
            os._exit(9)
        if do == "sleep":
            time.sleep(float(args.get("s", "30")))
        if do == "stubborn":  # ignores the SIGTERM of a time limit: only SIGKILL ends it
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(30)
        if do == "twoarg":
            return RunResult(run, FAILED, "TwoArgError: 1 and 2", value=TwoArgError(1, 2))
        if do == "lock":
            return RunResult(run, COMPLETED, value=threading.Lock())
        if do == "disk":
            raise OSError(errno.ENOSPC, "No space left on device")
        if do == "raise":
            raise ValueError("not the task's fault")
        if do == "slow":
            time.sleep(0.02)
        if do == "nap":
            time.sleep(0.2)
        time.sleep(float(args.get("s", "0")))
        with open(self.marks / f"done-{run.number}", "a") as f:
            f.write("x")
        return RunResult(run, COMPLETED, value=int(args.get("i", run.number)) * 10)


def _sweep(tmp_path, dos, runs_per_task=1):
    manifest = Manifest(tmp_path / "sweep")
    manifest.create({"kind": "sweep"})
    groups = [[[f"i={i}", f"do={do}"] for i, do in enumerate(dos)]]
    tasks = list(plan(groups, runs_per_task))
    manifest.add_plan({"run": r.number, "overrides": list(r.overrides)} for t in tasks for r in t.runs)
    events = EventLog(tmp_path / "sweep", manifest.begin_attempt({}))
    marks = tmp_path / "marks"
    marks.mkdir()
    return tasks, events, Function(marks)


def _run(tmp_path, dos, max_parallel, runs_per_task=1, **options):
    tasks, events, function = _sweep(tmp_path, dos, runs_per_task)
    executor = LocalExecutor(FunctionWork(function), Options(max_parallel=max_parallel, **options), events)
    try:
        results = list(executor.stream(tasks))
    finally:
        executor.close()
    return {r.run.number: r for r in results}, executor


@pytest.mark.parametrize(
    "dos, max_parallel, runs_per_task, expected",
    [
        pytest.param(["", "", ""], 1, 1, {0: (COMPLETED, None), 1: (COMPLETED, None), 2: (COMPLETED, None)},
                     id="in-process"),
        pytest.param(["", "", "", ""], 2, 2, {n: (COMPLETED, None) for n in range(4)}, id="workers-packed"),
        pytest.param(["", "die", "", ""], 2, 2,
                     {0: (COMPLETED, None), 1: (FAILED, "the worker running #1 died (exit code 9)"),
                      2: (COMPLETED, None), 3: (COMPLETED, None)}, id="death-fails-only-its-run"),
        pytest.param(["die", ""], 2, 2,
                     {0: (FAILED, "the worker running #0 died (exit code 9)"), 1: (COMPLETED, None)},
                     id="rest-of-the-task-runs-after-a-death"),
        pytest.param(["twoarg", ""], 2, 1,
                     {0: (FAILED, "TwoArgError: 1 and 2 (its result could not be unpickled: TypeError: "
                                  "TwoArgError.__init__() missing 1 required positional argument: 'b')"),
                      1: (COMPLETED, None)}, id="unpicklable-exception"),
        pytest.param(["raise", ""], 2, 1,
                     {0: (FAILED, "ValueError: not the task's fault"), 1: (COMPLETED, None)},
                     id="runner-error-fails-its-run"),
        pytest.param(["raise", ""], 1, 1,
                     {0: (FAILED, "ValueError: not the task's fault"), 1: (COMPLETED, None)},
                     id="runner-error-in-process"),
    ],
)
def test_results(tmp_path, dos, max_parallel, runs_per_task, expected):
    results, _ = _run(tmp_path, dos, max_parallel, runs_per_task)
    assert {n: (r.state, r.error) for n, r in results.items()} == expected
    recorded = {run.number: run.state for run in read(tmp_path / "sweep").runs}
    assert recorded == {n: state for n, (state, _) in expected.items()}


def test_unpicklable_return_value_travels_as_text(tmp_path):
    results, _ = _run(tmp_path, ["lock"], 2)
    assert results[0].state == COMPLETED
    assert results[0].value.startswith("<not picklable: TypeError: cannot pickle '_thread.lock' object>")


def test_values_come_back(tmp_path):
    results, _ = _run(tmp_path, ["", ""], 2)
    assert [results[n].value for n in (0, 1)] == [0, 10]


def test_never_more_workers_than_tasks(tmp_path):
    _, executor = _run(tmp_path, ["", ""], 16)
    assert executor.workers_started == 2


@pytest.mark.parametrize("max_parallel", [pytest.param(1, id="in-process"), pytest.param(2, id="workers")])
def test_a_full_disk_stops_dispatch_and_is_named(tmp_path, max_parallel):
    results, executor = _run(tmp_path, ["", "disk"] + ["slow"] * 20, max_parallel)
    assert executor.machine_error == "the disk is full: OSError: [Errno 28] No space left on device"
    assert results[1].state == FAILED and "No space left on device" in results[1].error
    assert len(results) < 22, "dispatch did not stop"
    states = [run.state for run in read(tmp_path / "sweep").runs]
    assert states.count("pending") >= 22 - len(results), "runs not started must stay unstarted (retry runs them)"
    assert states[1] == FAILED


def test_a_run_whose_launcher_is_gone_before_it_began_is_interrupted_not_lost(tmp_path):
    """A worker's launcher died between the run's start record and the worker telling it (its pipe is
    closed): the worker records the run as interrupted before it leaves, as for a stop inside the run."""
    from hydraflow_core.executors.local.runone import run_one

    tasks, events, function = _sweep(tmp_path, [""])

    def announce(run):
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        run_one(function, tasks[0].runs[0], events, announce)
    (run,) = read(tmp_path / "sweep").runs
    assert (run.state, run.error) == (INTERRUPTED, "stopped by a signal")
    assert not (function.marks / "started-0").exists()  # it never ran


def test_workers_killed_at_random_moments(tmp_path):
    """Every run that was not killed completes exactly once; every failure names the run really running."""
    # At least 300 runs and more than 100 kills (~30 at every moment of a run's life; 3000 runs proved
    # nothing more): runs are fed until both are reached, so a loaded machine, where fewer kills land per
    # run, runs more of them instead of failing.
    planned = 3000
    tasks, events, function = _sweep(tmp_path, ["", ] * planned, runs_per_task=4)
    tasks = [Task(t.index, t.group, tuple(r.__class__(r.number, r.overrides + ("s=0.005",), r.group)
                                          for r in t.runs)) for t in tasks]
    fed: list = []

    def feed():
        for task in tasks:
            if len(fed) >= 300 and len(kills) > 100:
                return
            fed.extend(r.number for r in task.runs)
            yield task

    executor = LocalExecutor(FunctionWork(function), Options(max_parallel=2), events)
    rng = random.Random(3)
    stop = threading.Event()
    kills = []

    def killer():
        while not stop.is_set():
            time.sleep(rng.uniform(0.004, 0.03))
            pids = [s.process.pid for s in executor.slots if s.process is not None]
            if pids:
                with_pid = rng.choice(pids)
                try:
                    os.kill(with_pid, signal.SIGKILL)
                    kills.append(with_pid)
                except ProcessLookupError:
                    pass

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        results = list(executor.stream(feed()))
    finally:
        stop.set()
        thread.join()
        executor.close()
    n = len(fed)
    numbers = [r.run.number for r in results]
    assert sorted(numbers) == list(range(n)), "a run was lost or reported twice"
    marks = function.marks
    started = {}
    for path in (tmp_path / "sweep" / ".hydraflow" / "events").iterdir():
        for line in path.read_text().splitlines():
            if '"event":"start"' in line:
                started[int(line.split('"run":')[1].split(",")[0])] = True
    started = {n: started.get(n, False) for n in range(n)}
    for r in results:
        done = marks / f"done-{r.run.number}"
        if r.state == COMPLETED:
            assert done.read_text() == "x", f"#{r.run.number} completed but did not run exactly once"
        else:
            assert r.error.startswith(f"the worker running #{r.run.number} died"), r.error
            assert started[r.run.number], f"#{r.run.number} blamed but never started"
    assert len(kills) > 100, "too few kills to mean anything"
    failed = sum(r.state == FAILED for r in results)
    assert failed <= len(kills)


def _commands(tmp_path, scripts, max_parallel=2, **options):
    manifest = Manifest(tmp_path / "job")
    manifest.create({"kind": "job"})
    tasks = list(plan([[[s] for s in scripts]], 1))
    manifest.add_plan({"run": t.runs[0].number, "overrides": list(t.runs[0].overrides)} for t in tasks)
    events = EventLog(tmp_path / "job", manifest.begin_attempt({}))

    def spec(task):
        script = task.runs[0].overrides[0]
        argv = [sys.executable, "-c", script] if script != "missing" else ["/no/such/program"]
        return Command(tuple(argv), str(tmp_path), str(tmp_path / f"log-{task.index}.txt"), {"MARK": str(task.index)})

    return tasks, LocalExecutor(CommandWork(spec), Options(max_parallel=max_parallel, **options), events)


def test_commands(tmp_path):
    tasks, executor = _commands(tmp_path, [
        "import os; print('hello', os.environ['MARK'])", "raise SystemExit(3)", "missing",
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
    ])
    results = {r.run.number: r for r in executor.stream(tasks)}
    assert {n: (r.state, r.error, r.returncode) for n, r in results.items()} == {
        0: (COMPLETED, None, 0),
        1: (FAILED, "exit code 3", 3),
        2: (FAILED, "cannot start /no/such/program: [Errno 2] No such file or directory", None),
        3: (FAILED, "killed by SIGKILL", -9),
    }
    assert (tmp_path / "log-0.txt").read_text() == "hello 0\n"
    assert [run.state for run in read(tmp_path / "job").runs] == [COMPLETED, FAILED, FAILED, FAILED]


def test_stop_interrupts_running_commands_and_kills_after_grace(tmp_path):
    tasks, executor = _commands(tmp_path, [
        "import time; open('ready-0', 'w').close(); time.sleep(60)",
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); open('ready-1', 'w').close(); "
        "time.sleep(60)",
        "print('never')",
    ])
    executor.grace = 0.5
    executor.source = iter(tasks)
    executor._fill()
    processes = [slot.process for slot in executor.slots]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{n}").exists() for n in (0, 1)):  # both sleep, the second deaf to SIGINT
        assert time.monotonic() < deadline, "the commands never started"
        time.sleep(0.02)
    late = executor.stop(signal.SIGINT)
    # The first ended on the SIGINT itself; the second, which ignores it, was killed once the grace period ran out.
    assert [p.returncode for p in processes] == [-signal.SIGINT, -signal.SIGKILL]
    states = {r.run.number: r.state for r in late}
    assert states == {0: INTERRUPTED, 1: INTERRUPTED}
    assert all(s.process is None for s in executor.slots)
    assert [run.state for run in read(tmp_path / "job").runs][:2] == [INTERRUPTED, INTERRUPTED]
    assert not (tmp_path / "log-2.txt").exists(), "a queued task started after the stop"


LIMIT = "timed out after 0.01 min"  # 0.6 s: a nap of 0.2 s is well inside it


@pytest.mark.parametrize(
    "dos, max_parallel, runs_per_task, expected, workers, ended_by",
    [
        pytest.param(["", "sleep", ""], 1, 1, {0: COMPLETED, 1: TIMED_OUT, 2: COMPLETED}, 2, "end",
                     id="max_parallel=1-on-a-worker"),
        pytest.param(["", "sleep", "", ""], 2, 1, {0: COMPLETED, 1: TIMED_OUT, 2: COMPLETED, 3: COMPLETED}, 2, "end",
                     id="max_parallel=2"),
        pytest.param(["sleep", "", "", ""], 1, 2, {0: TIMED_OUT, 1: COMPLETED, 2: COMPLETED, 3: COMPLETED}, 2, "end",
                     id="rest-of-the-task-on-a-new-worker"),
        pytest.param(["stubborn", ""], 2, 2, {0: TIMED_OUT, 1: COMPLETED}, 2, "ended_by_launcher",
                     id="killed-after-the-grace-period"),
        # 4 naps of 0.2 s in one task: 0.8 s in all, past a limit of 0.6 s that counted per task.
        pytest.param(["nap"] * 4, 1, 4, {n: COMPLETED for n in range(4)}, 1, None, id="each-run-has-its-own-limit"),
    ],
)
def test_time_limits(tmp_path, dos, max_parallel, runs_per_task, expected, workers, ended_by):
    results, executor = _run(tmp_path, dos, max_parallel, runs_per_task, timeout=0.6, grace=0.3)
    assert {n: r.state for n, r in results.items()} == expected
    assert all(r.error == LIMIT for r in results.values() if r.state == TIMED_OUT)
    recorded = {run.number: (run.state, run.error) for run in read(tmp_path / "sweep").runs}
    assert recorded == {n: (r.state, r.error) for n, r in results.items()}
    assert executor.workers_started == workers  # a worker stopped for a limit is replaced when there is more to run
    marks = tmp_path / "marks"
    assert all((marks / f"done-{n}").read_text() == "x" for n, state in expected.items() if state == COMPLETED)
    # A run past its limit was stopped in its sleep: its worker is gone and it never got to its end. A worker
    # that ends on the SIGTERM records the run itself; one that ignores it is SIGKILLed and the launcher does.
    events = [json.loads(line) for path in (tmp_path / "sweep" / ".hydraflow" / "events").iterdir()
              for line in path.read_text().splitlines()]
    for number in (n for n, state in expected.items() if state == TIMED_OUT):
        (start,) = [e for e in events if e["run"] == number and e["event"] == "start"]
        assert process_start(start["pid"]) is None, f"the worker of #{number} still runs"
        assert not (marks / f"done-{number}").exists()
        assert [e["event"] for e in events if e["run"] == number and e["event"] != "start"] == [ended_by]


def test_commands_past_their_limit_time_out(tmp_path):
    tasks, executor = _commands(tmp_path, ["import time; time.sleep(30)", "print('on time')"], timeout=0.6, grace=0.3)
    results = {r.run.number: r for r in executor.stream(tasks)}
    assert {n: (r.state, r.error, r.returncode) for n, r in results.items()} == {
        0: (TIMED_OUT, LIMIT, -signal.SIGTERM), 1: (COMPLETED, None, 0)}
    assert [run.state for run in read(tmp_path / "job").runs] == [TIMED_OUT, COMPLETED]
