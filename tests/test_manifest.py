"""The manifest: plan, events, folding into states; torn writes and killed writers."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from hydraflow_core import manifest
from hydraflow_core.errors import UsageError
from hydraflow_core.manifest import EventLog, Manifest, read


def _new(tmp_path, runs=3):
    m = Manifest(tmp_path)
    m.create({"kind": "sweep"})
    m.add_plan({"run": n, "overrides": [f"x={n}"], "group": 0, "task": n} for n in range(runs))
    return m


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _states(tmp_path):
    return [run.state for run in read(tmp_path).runs]


# Each case: a list of (attempt, writer, action, run, state) applied in order; the expected states.
# writer "w" is this process; "dead" writes a start as a process that is gone.
CASES = [
    pytest.param([], ["planned"] * 3, id="nothing-ran"),
    pytest.param([(1, "w", "start", 0, None)], ["running", "planned", "planned"], id="running"),
    pytest.param([(1, "w", "start", 0, None), (1, "w", "end", 0, "completed")],
                 ["completed", "planned", "planned"], id="completed"),
    pytest.param([(1, "dead", "start", 1, None)], ["planned", "lost", "planned"], id="lost-when-process-gone"),
    pytest.param([(1, "w", "start", 2, None), (1, "w", "end", 2, "failed"),
                  (2, "w", "start", 2, None), (2, "w", "end", 2, "completed")],
                 ["planned", "planned", "completed"], id="retry-wins"),
    pytest.param([(2, "w", "start", 0, None), (2, "w", "end", 0, "completed"),
                  (1, "w", "start", 0, None), (1, "w", "end", 0, "failed")],
                 ["completed", "planned", "planned"], id="later-attempt-wins-whatever-the-file-order"),
    pytest.param([(1, "w", "start", 0, None), (1, "w", "end", 0, "completed"),
                  (1, "w", "ended_for", 0, "failed")],
                 ["completed", "planned", "planned"], id="own-end-beats-launchers-record"),
    pytest.param([(1, "w", "start", 0, None), (1, "w", "ended_for", 0, "failed")],
                 ["failed", "planned", "planned"], id="launchers-record-beats-start"),
    pytest.param([(1, "w", "start", 0, None), (1, "w", "end", 0, "interrupted")],
                 ["interrupted", "planned", "planned"], id="interrupted"),
    pytest.param([(1, "w", "start", 7, None)], ["planned"] * 3, id="unknown-run-ignored"),
]


@pytest.mark.parametrize("actions, expected", CASES)
def test_states(tmp_path, actions, expected):
    _new(tmp_path)
    dead = _dead_pid()
    for attempt, writer, action, run, state in actions:
        events = EventLog(tmp_path, attempt)
        if writer == "dead":
            events.started(run, pid=dead, pid_start=123)
        elif action == "start":
            events.started(run)
        elif action == "end":
            events.ended(run, state)
        else:
            events.ended_for(run, state, "the worker died")
    assert _states(tmp_path) == expected


def test_pending_while_the_launcher_lives(tmp_path):
    m = _new(tmp_path)
    m.begin_attempt({})  # this process is the launcher, alive
    assert _states(tmp_path) == ["pending"] * 3


def test_attempts_are_numbered(tmp_path):
    m = _new(tmp_path)
    assert [m.begin_attempt({}), m.begin_attempt({"kind": "retry"})] == [1, 2]
    assert [a["attempt"] for a in read(tmp_path).attempts] == [1, 2]


def test_details_of_the_latest_start(tmp_path):
    _new(tmp_path)
    EventLog(tmp_path, 1, job_id="123_4").started(0, output_dir="/out/0", log="/out/0/app.log")
    EventLog(tmp_path, 1).ended(0, "failed", "RuntimeError: boom")
    run = read(tmp_path).runs[0]
    assert (run.state, run.job_id, run.output_dir, run.log, run.error, run.pid) == (
        "failed", "123_4", "/out/0", "/out/0/app.log", "RuntimeError: boom", os.getpid())


def test_torn_and_garbage_lines_are_skipped(tmp_path):
    _new(tmp_path)
    events = EventLog(tmp_path, 1)
    events.started(0)
    events.ended(0, "completed")
    with open(events.path, "ab") as f:
        f.write(b'not json\n{"run": 1, "attempt": 1, "event": "start", "ti')  # a torn last line
    with open(tmp_path / ".hydraflow" / "plan.jsonl", "ab") as f:
        f.write(b'{"run": 9, "overr')
    assert _states(tmp_path) == ["completed", "planned", "planned"]


@pytest.mark.parametrize(
    "make, message",
    [
        pytest.param(lambda p: None, "is not a hydraflow sweep: it has no .hydraflow/manifest.json", id="no-manifest"),
        pytest.param(lambda p: (p / ".hydraflow").mkdir() or (p / ".hydraflow" / "manifest.json").write_text("{"),
                     "cannot read the manifest", id="bad-json"),
        pytest.param(lambda p: (p / ".hydraflow").mkdir() or (p / ".hydraflow" / "manifest.json").write_text("{}"),
                     "not a hydraflow manifest", id="not-ours"),
    ],
)
def test_not_a_manifest(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(UsageError) as error:
        read(tmp_path)
    assert message in str(error.value)


def _writer(directory, runs):
    """Child: plan and events written in a tight loop, as fast as it can, until killed."""
    m = Manifest(directory)
    events = EventLog(directory, 1)
    rng = random.Random(os.getpid())  # seeded: a failure names the writer that caused it
    for n in range(runs):
        m.add_plan([{"run": n, "overrides": ["x=" + "y" * rng.randint(0, 300)]}])
        events.started(n, output_dir="/o/" + "z" * rng.randint(0, 500))
        events.ended(n, "completed")


def test_a_writer_killed_at_any_instant_leaves_it_readable(tmp_path):
    """Hundreds of SIGKILLs at random moments: the manifest always reads, every state is valid."""
    rng = random.Random(7)
    kills = seen = 0
    for attempt in range(300):
        directory = tmp_path / str(attempt // 30)  # a new sweep now and then: reads stay small
        if attempt % 30 == 0:
            Manifest(directory).create({"kind": "sweep"})
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                _writer(directory, 10**6)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0, 0.004))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        state = read(directory)
        assert all(run.state in manifest.STATES for run in state.runs)
        seen += len(state.runs)
    assert kills == 300 and seen > 300, "the writers were killed before writing anything"


def test_plan_and_events_are_appended_never_rewritten(tmp_path):
    m = _new(tmp_path, runs=1)
    plan_file = tmp_path / ".hydraflow" / "plan.jsonl"
    before = plan_file.read_bytes()
    m.add_plan([{"run": 1, "overrides": []}])
    assert plan_file.read_bytes().startswith(before)
    assert json.loads(plan_file.read_bytes().splitlines()[-1]) == {"run": 1, "overrides": []}


# A task of attempt 1 naming runs 0..3: later attempts (a retry, a launch) own some of them.
@pytest.mark.parametrize("later, wanted", [
    pytest.param([], [0, 1, 2, 3], id="none-owned"),
    pytest.param([{"kind": "retry", "numbers": [1, 3]}], [0, 2], id="a-later-retry-owns-some"),
    pytest.param([{"kind": "run", "numbers": [1]}], [0, 1, 2, 3], id="not-a-launch-or-retry"),
])
def test_a_tasks_first_start_reads_the_plan_as_a_replay_reads_the_manifest(tmp_path, later, wanted):
    from hydraflow_core.manifest import replay

    m = _new(tmp_path, runs=5)
    m.begin_attempt({"kind": "launch"})
    for info in later:
        m.begin_attempt(info)
    spec = replay.ReplaySpec(str(tmp_path), (0, 1, 2, 3), "task", 1)
    groups, subdirs = replay.replay_runs(spec, tmp_path)
    assert replay.first_runs(spec, tmp_path) == [run for group in groups for run in group]
    assert [run.number for run in replay.first_runs(spec, tmp_path)] == wanted and subdirs == {}
