"""Waves: a sweep's array tasks sent a part at a time where they do not fit the user's queue (unit tests of
the planning; tests/slurm/test_site_limits.py runs waves on a cluster that enforces the limits)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hydraflow_core.executors.slurm import waves, wavefile
from hydraflow_core.executors.slurm.limits import Limits, SiteLimitError
from hydraflow_core.executors.slurm.waves import Waves
from hydraflow_core.manifest import HOST, json_line, manifest_dir

NAMES = {"max_submit": "MaxSubmitJobs, association"}


def site(max_submit, queued=0):
    return Limits(1001, max_submit, None, queued, NAMES)


@pytest.mark.parametrize("tasks, limits, walk_away, expected", [
    pytest.param(30, Limits(), False, None, id="no-limit-known"),
    pytest.param(10, site(10), False, None, id="fits-exactly"),
    pytest.param(10, site(10), True, None, id="fits-exactly-walking-away-needs-no-wave-job"),
    pytest.param(30, site(10), False, Waves(30, 10, 5, False), id="waiting-then-half-the-limit-at-a-time"),
    pytest.param(30, site(10, queued=6), False, Waves(30, 4, 5, False), id="queue-partly-full"),
    pytest.param(30, site(10, queued=10), False, Waves(30, 0, 5, False), id="queue-full-the-first-waits"),
    pytest.param(30, site(1), False, Waves(30, 1, 1, False), id="a-limit-of-1-one-at-a-time"),
    pytest.param(30, site(10), True, Waves(30, 9, 8, True), id="walk-away-room-for-the-wave-jobs"),
    pytest.param(30, site(10, queued=9), True, Waves(30, 0, 8, True), id="walk-away-no-room-for-task-and-job"),
    pytest.param(5, site(3), True, Waves(5, 2, 1, True), id="walk-away-smallest-limit"),
])
def test_tasks_that_do_not_fit_go_out_in_waves(tasks, limits, walk_away, expected):
    assert waves.plan(tasks, limits, walk_away) == expected


@pytest.mark.parametrize("tasks, limits, walk_away, message", [
    pytest.param(5, site(0), False, "your limit of 0 queued jobs (MaxSubmitJobs, association) lets you submit no job",
                 id="limit-of-0"),
    pytest.param(5, site(2), True, "5 array tasks do not fit your limit of 2 queued jobs (MaxSubmitJobs, "
                 "association), and with hydra.launcher.wait=false each wave is submitted by a small job",
                 id="too-small-to-walk-away"),
])
def test_what_no_wave_can_fit_is_one_clear_error(tasks, limits, walk_away, message):
    with pytest.raises(SiteLimitError) as error:
        waves.plan(tasks, limits, walk_away)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("plan, sizes", [
    pytest.param(Waves(30, 10, 5, False), [10, 5, 5, 5, 5], id="even"),
    pytest.param(Waves(23, 9, 8, True), [9, 8, 6], id="last-part-full"),
    pytest.param(Waves(12, 0, 5, False), [5, 5, 2], id="nothing-first"),
])
def test_the_waves_sizes(plan, sizes):
    assert plan.sizes() == sizes and plan.count == len(sizes)
    assert [len(w) for w in plan.split(list(range(plan.tasks)))] == sizes


@pytest.mark.parametrize("left, room, guarded, partial, expected", [
    pytest.param([[1, 2], [3, 4]], 4, False, False, [1, 2, 3, 4], id="all-fit"),
    pytest.param([[1, 2], [3, 4]], 3, False, False, [1, 2], id="whole-waves-only"),
    pytest.param([[1, 2], [3, 4]], 1, False, False, [], id="not-even-one-wave"),
    pytest.param([[1, 2], [3, 4]], 1, False, True, [1], id="the-last-submitter-sends-what-fits"),
    pytest.param([[1, 2], [3, 4], [5]], 4, True, False, [1, 2], id="room-kept-for-the-next-wave-job"),
    pytest.param([[1, 2], [3, 4]], 4, True, False, [1, 2, 3, 4], id="the-last-wave-needs-no-job"),
    pytest.param([[1, 2, 3]], 2, True, True, [1], id="a-partial-wave-keeps-room-for-its-job"),
    pytest.param([[1, 2, 3]], 1, True, True, [], id="no-room-for-task-and-job"),
    pytest.param([[1, 2]], 0, False, True, [], id="queue-full"),
])
def test_what_goes_out_now(left, room, guarded, partial, expected):
    assert waves.choose(left, room, guarded, partial) == expected


@pytest.mark.parametrize("plan, runs, limits, line", [
    pytest.param(Waves(30, 10, 5, False), 60, site(10), "hydraflow: 60 runs in 5 waves of up to 10 array tasks to fit "
                 "your limit of 10 queued jobs (MaxSubmitJobs, association) (0 queued now): the next wave goes as "
                 "earlier tasks leave the queue", id="waiting"),
    pytest.param(Waves(20, 9, 8, True), 20, site(10), "hydraflow: 20 runs in 3 waves of up to 9 array tasks to fit "
                 "your limit of 10 queued jobs (MaxSubmitJobs, association) (0 queued now): each wave's small job "
                 "submits the next once it has left the queue (wait=false)", id="walking-away"),
    pytest.param(Waves(10, 0, 5, False), 10, site(10, 10), "hydraflow: 10 runs in 2 waves of up to 5 array tasks to "
                 "fit your limit of 10 queued jobs (MaxSubmitJobs, association) (10 queued now): the next wave goes "
                 "as earlier tasks leave the queue; none fits now", id="none-fits-now"),
])
def test_one_line_says_what_was_chosen_and_why(plan, runs, limits, line):
    assert waves.said(plan, runs, limits) == line


@pytest.mark.parametrize("runs, count, text", [
    pytest.param(40, 4, "40 runs in 4 waves still to submit", id="plural"),
    pytest.param(1, 1, "1 run in 1 wave still to submit", id="singular"),
])
def test_what_is_still_to_come_in_words(runs, count, text):
    assert waves.to_come(runs, count) == text


def _task(index, *runs):
    return {"index": index, "group": 0, "runs": list(runs), "resources": [], "entry": list(runs)}


PLAN = {"max_submit": 4, "guarded": True, "sizes": [2, 1, 1], "key": "tasks", "spec": {}, "settings": {},
        "max_parallel": None, "job_name": "app",
        "waves": [[_task(0, 0, 1), _task(1, 2, 3)], [_task(2, 4, 5)], [_task(3, 6, 7)]]}


def _sweep(tmp_path, attempts, arrays, events):
    directory = manifest_dir(tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "attempts.jsonl").write_bytes(b"".join(json_line({"attempt": n}) for n in range(1, attempts + 1)))
    (directory / "slurm.jsonl").write_bytes(b"".join(json_line({"attempt": 1, **a}) for a in arrays))
    wavefile.write_plan(tmp_path, 1, PLAN)
    for event in events:
        wavefile.note(tmp_path, 1, **event)
    return tmp_path


@pytest.mark.parametrize("attempts, arrays, events, left, live, gave_up", [
    pytest.param(1, [{"job_id": "7", "tasks_runs": [[0, 1], [2, 3]]}, {"guard": "8", "after": ["7"]}], [],
                 [[2], [3]], True, None, id="first-wave-out"),
    pytest.param(1, [{"job_id": "7", "tasks_runs": [[0, 1], [2, 3], [4, 5]]}], [], [[3]], True, None,
                 id="waves-out-together"),
    pytest.param(1, [{"job_id": "7", "tasks_runs": [[0, 1]]}], [], [[1], [2], [3]], True, None,
                 id="a-wave-partly-out-keeps-its-rest"),
    pytest.param(1, [{"job_id": "7", "tasks_runs": [[0, 1], [2, 3], [4, 5], [6, 7]]}], [], [], False, None,
                 id="all-out"),
    pytest.param(1, [], [{"dropped": "cancel"}], [[0, 1], [2], [3]], False, None, id="dropped-by-cancel"),
    pytest.param(2, [], [], [[0, 1], [2], [3]], False, None, id="a-later-attempt-supersedes"),
    pytest.param(1, [], [{"gave_up": "no room"}], [[0, 1], [2], [3]], False, "no room", id="given-up"),
    pytest.param(2, [], [{"gave_up": "no room"}], [[0, 1], [2], [3]], False, None, id="given-up-then-retried"),
])
def test_the_waves_file_says_what_is_left_and_whether_anyone_submits_it(tmp_path, attempts, arrays, events, left,
                                                                        live, gave_up):
    pending = wavefile.read(_sweep(tmp_path, attempts, arrays, events))
    assert [[t["index"] for t in wave] for wave in pending.waves_left()] == left
    assert pending.live is live and pending.gave_up == gave_up


def test_one_submitter_at_a_time_and_a_dead_ones_lock_is_taken_over(tmp_path):
    manifest_dir(tmp_path).mkdir()
    with wavefile.locked(tmp_path) as first:
        with wavefile.locked(tmp_path, wait=0.3) as second:
            assert first and not second
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (manifest_dir(tmp_path) / "waves.lock").write_text(json.dumps({"host": HOST, "pid": int(dead.stdout),
                                                                   "time": 0}))
    with wavefile.locked(tmp_path) as taken:
        assert taken
    assert not (manifest_dir(tmp_path) / "waves.lock").exists()
