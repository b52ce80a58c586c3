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


def _whole_lines(path):
    """The JSON records of a file's complete lines (what follows the last newline is a line being written)."""
    data = path.read_bytes() if path.exists() else b""
    out = []
    for raw in data[:data.rfind(b"\n") + 1].split(b"\n")[:-1]:
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out


def _expected_states(directory):
    """[(run, state)] worked out from the files themselves: completed when a writer recorded its end, lost when
    one recorded only its start (every writer is dead by then), planned when none recorded anything."""
    hydraflow = directory / ".hydraflow"
    planned = sorted({r["run"] for r in _whole_lines(hydraflow / "plan.jsonl") if isinstance(r.get("run"), int)})
    events = [e for path in (hydraflow / "events").iterdir() for e in _whole_lines(path)]
    ended = {e["run"] for e in events if e.get("event") == "end"}
    started = {e["run"] for e in events if e.get("event") == "start"}
    return [(n, "completed" if n in ended else "lost" if n in started else "planned") for n in planned]


def test_a_writer_killed_at_any_instant_leaves_it_readable(tmp_path):
    """Hundreds of SIGKILLs at random moments: the manifest always reads, each run's state what its records say."""
    rng = random.Random(7)
    kills = seen = 0
    kinds = set()
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
        assert [(run.number, run.state) for run in state.runs] == _expected_states(directory)
        seen += len(state.runs)
        kinds.update(run.state for run in state.runs)
    assert kills == 300 and seen > 300, "the writers were killed before writing anything"
    assert kinds == {"completed", "lost", "planned"}, "no writer was killed between its plan, start and end"


def _files(directory):
    """{path under the sweep: (inode, bytes)} of every file of its manifest."""
    return {str(path.relative_to(directory)): (path.stat().st_ino, path.read_bytes())
            for path in sorted((directory / ".hydraflow").rglob("*")) if path.is_file()}


def _in_child(action):
    """``action`` done by another process (a worker, a Slurm task): its own events file."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            action()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


# Each case: one more write to a manifest that already has a plan, an attempt and a run's events; the file it
# appends to ("events/own": this process's, "events/child": a new one of another process) and its new line.
APPENDS = [
    pytest.param(lambda m, d: m.add_plan([{"run": 1, "overrides": ["x=1"]}]), "plan.jsonl",
                 {"run": 1, "overrides": ["x=1"]}, id="plan"),
    pytest.param(lambda m, d: m.begin_attempt({"kind": "retry", "numbers": [1]}), "attempts.jsonl",
                 {"attempt": 2, "kind": "retry", "numbers": [1]}, id="attempt"),
    pytest.param(lambda m, d: EventLog(d, 1).started(1), "events/own", {"run": 1, "event": "start"}, id="start"),
    pytest.param(lambda m, d: EventLog(d, 1).ended(1, "failed", "boom"), "events/own",
                 {"run": 1, "event": "end", "state": "failed", "error": "boom"}, id="end"),
    pytest.param(lambda m, d: EventLog(d, 1).ended_for(1, "failed", "the worker died"), "events/own",
                 {"run": 1, "event": "ended_by_launcher", "state": "failed"}, id="launchers-record"),
    pytest.param(lambda m, d: _in_child(lambda: EventLog(d, 1).started(1)), "events/child",
                 {"run": 1, "event": "start"}, id="another-process"),
]


@pytest.mark.parametrize("write, appended_to, line", APPENDS)
def test_plan_attempts_and_events_are_appended_never_rewritten(tmp_path, write, appended_to, line):
    m = _new(tmp_path, runs=2)
    m.begin_attempt({"kind": "launch"})
    EventLog(tmp_path, 1).started(0)
    EventLog(tmp_path, 1).ended(0, "completed")
    before = _files(tmp_path)
    write(m, tmp_path)
    after = _files(tmp_path)
    own = f".hydraflow/events/1-{manifest.HOST}-{os.getpid()}.jsonl"
    for name, (inode, data) in before.items():  # the same file (no rename), its bytes kept
        assert after[name][0] == inode, f"{name} was replaced"
        assert after[name][1].startswith(data), f"{name} was rewritten"
    changed = sorted(name for name in after if before.get(name, (None, None))[1] != after[name][1])
    if appended_to == "events/child":
        (name,) = changed
        assert name not in before and name.startswith(".hydraflow/events/1-") and name != own
    else:
        assert changed == [own if appended_to == "events/own" else f".hydraflow/{appended_to}"]
        name = changed[0]
    added = after[name][1][len(before.get(name, (0, b""))[1]):]
    assert added.count(b"\n") == 1 and added.endswith(b"\n")  # one whole line
    record = json.loads(added)
    assert {key: record[key] for key in line} == line


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
