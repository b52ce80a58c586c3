"""`hydraflow run` end to end: the example app's jobs through the real CLI, with
real Hydra multiruns in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from hydraflow_core import manifest
from conftest import pids_running

BIN = Path(sys.executable).parent
HYDRAFLOW = str(BIN / "hydraflow")
# `python` in the jobs' commands must be this environment's python.
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}



def hydraflow(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HYDRAFLOW, *args], cwd=app, env=ENV, capture_output=True, text=True, timeout=300)


def run_dirs(app: Path, job: str):
    return sorted(p for p in (app / "multirun" / job).iterdir() if p.is_dir())


def summary(run_dir: Path) -> dict:
    """The run directory's manifest, one record per batch (``hydraflow status --json``)."""
    state = manifest.read(run_dir)
    return {"batches": [{"name": r.extra["name"], "state": r.state, "returncode": r.extra.get("returncode"),
                         "started_at": r.started, "duration": (r.ended or 0) - (r.started or 0)}
                        for r in state.runs]}


def overrides_of_runs(run_dir: Path):
    """{batch dir name: [overrides of each run, by run number]}."""
    out = {}
    for batch in sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        runs = sorted((p for p in batch.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        out[batch.name] = [yaml.safe_load((r / ".hydra" / "overrides.yaml").read_text()) for r in runs]
    return out


def test_train_runs_four_multiruns_of_two(app):
    result = hydraflow(app, "run", "train")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "train")
    assert overrides_of_runs(run_dir) == {
        f"{i}-model-{m}_learning_rate-{lr}": [
            ["model=" + m, f"learning_rate={lr}", f"optimizer={o}"] for o in ("adam", "sgd")
        ]
        for i, (m, lr) in enumerate([("small", 0.1), ("small", 0.2), ("large", 0.1), ("large", 0.2)])
    }
    assert [b["state"] for b in summary(run_dir)["batches"]] == ["completed"] * 4
    assert "4 completed" in result.stdout
    # Every run really ran: its result file is there.
    assert len(list(run_dir.glob("*/*/result.json"))) == 8


def test_a_failing_batch_does_not_stop_the_others(app):
    result = hydraflow(app, "run", "flaky")
    assert result.returncode == 1
    (run_dir,) = run_dirs(app, "flaky")
    states = [(b["name"], b["state"], b["returncode"]) for b in summary(run_dir)["batches"]]
    assert states == [("0-fail-false", "completed", 0), ("1-fail-true", "failed", 1),
                      ("2-fail-false", "completed", 0)]
    assert (run_dir / "2-fail-false" / "0" / "result.json").exists()  # ran after the failure
    assert "2 completed, 1 failed" in result.stdout
    assert "failing on purpose (fail=True)" in result.stdout  # the end of the failed batch's log
    assert "1-fail-true/hydraflow.log" in result.stdout


def test_a_batch_past_the_jobs_time_limit_times_out_alone(app):
    marker = uuid.uuid4().hex
    (app / "timed.yaml").write_text("jobs:\n  timed:\n    run: python train.py\n    timeout_min: 0.2\n"
                                    "    max_parallel: 2\n    steps:\n      - batch: sleep=0,120\n"
                                    f"        with: +marker={marker}\n")
    result = hydraflow(app, "run", "timed", "--file", "timed.yaml")
    assert result.returncode == 1, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "timed")
    assert [(b["name"], b["state"]) for b in summary(run_dir)["batches"]] == [
        ("0-sleep-0", "completed"), ("1-sleep-120", "timed out")]  # 12 s: an app's start even on a loaded machine
    assert "1 completed, 1 timed out" in result.stdout
    assert "1-sleep-120 timed out after 0.2 min; the end of its log:" in result.stdout
    # The batch's whole process group was stopped in its run's sleep: the run recorded itself as interrupted,
    # never got to its result, and nothing of it runs on.
    slow = run_dir / "1-sleep-120"
    assert [(r.state, r.error) for r in manifest.read(slow).runs] == [("interrupted", "stopped by a signal")]
    assert not (slow / "0" / "result.json").exists()
    assert pids_running(marker) == []
    # retry runs it again with the job's limit, recorded in the run directory's manifest
    retried = hydraflow(app, "retry", str(run_dir))
    assert retried.returncode == 1, retried.stdout + retried.stderr
    assert [b["state"] for b in summary(run_dir)["batches"]] == ["completed", "timed out"]
    again = manifest.read(slow)
    assert [(r.state, r.attempt, r.starts) for r in again.runs] == [("interrupted", 2, 2)]
    assert not (slow / "0" / "result.json").exists()
    assert pids_running(marker) == []


def _most_at_once(batches) -> int:
    events = sorted([(b["started_at"], 1) for b in batches] +
                    [(b["started_at"] + b["duration"], -1) for b in batches])
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


@pytest.mark.parametrize("flags, most", [pytest.param((), 2, id="job-max-parallel-2"),
                                         pytest.param(("--max-parallel", "4"), 4, id="cli-max-parallel-4")])
def test_max_parallel_runs_batches_at_once(app, flags, most):
    result = hydraflow(app, "run", "parallel", *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "parallel")
    batches = summary(run_dir)["batches"]
    assert [b["state"] for b in batches] == ["completed"] * 4
    assert _most_at_once(batches) == most


def test_call_runs_a_function_per_batch(app):
    result = hydraflow(app, "run", "called")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "called")
    assert overrides_of_runs(run_dir) == {"0-model-small": [["model=small"]], "1-model-large": [["model=large"]]}
    # The function's output, its subprocess's included, goes to the batch's log, not the terminal.
    log = (run_dir / "0-model-small" / "hydraflow.log").read_text()
    assert "launch.sweep(['model=small'" in log and "hydraflow: 1 runs completed" in log
    assert "runs completed" not in result.stdout + result.stderr


def test_submit_hands_one_file_to_one_command(app):
    result = hydraflow(app, "run", "train_submit")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "train_submit")
    lines = (run_dir / "batches.txt").read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("model=small learning_rate=0.001,0.002,0.003 ")
    runs = overrides_of_runs(run_dir)
    assert runs["0-model-small"] == [["model=small", f"learning_rate={lr}"] for lr in (0.001, 0.002, 0.003)]
    assert runs["1-model-large"] == [["model=large", f"learning_rate={lr}"] for lr in (0.001, 0.002, 0.003)]


def test_running_again_never_overwrites(app):
    assert hydraflow(app, "run", "once").returncode == 0
    assert hydraflow(app, "run", "once").returncode == 0
    first, second = run_dirs(app, "once")
    assert first.name != second.name
    assert overrides_of_runs(first) == overrides_of_runs(second) == {"0": [["seed=0"], ["seed=1"]]}


def test_args_after_the_job_are_appended_and_expanded(app):
    result = hydraflow(app, "run", "once", "learning_rate=1m:2m", "--max-parallel", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "once")
    assert [sorted(r) for r in overrides_of_runs(run_dir)["0"]] == [
        sorted(["seed=0", "learning_rate=0.001"]), sorted(["seed=0", "learning_rate=0.002"]),
        sorted(["seed=1", "learning_rate=0.001"]), sorted(["seed=1", "learning_rate=0.002"])]


def test_ctrl_c_stops_the_children_and_prints_the_summary(app):
    (app / "hydraflow.yaml").write_text(
        "jobs:\n  slow:\n    run: python train.py\n    steps:\n      - batch: seed=0:3\n        with: sleep=60\n")
    process = subprocess.Popen([HYDRAFLOW, "run", "slow"], cwd=app, env=ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while not list((app / "multirun").glob("slow/*/0-seed-0/0/.hydra")):  # the first run has started
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err
    (run_dir,) = run_dirs(app, "slow")
    assert [b["state"] for b in summary(run_dir)["batches"]] == ["interrupted"] + ["planned"] * 3
    assert "1 interrupted, 3 not started" in out
    assert pids_running("sleep=60") == []


@pytest.mark.parametrize(
    "yaml_text, args, message",
    [
        pytest.param("jobs:\n  t:\n    run: no-such-program-here\n", ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:3: jobs.t.run: command 'no-such-program-here' not found\n", id="missing-command"),
        pytest.param("jobs:\n  train:\n    run: python train.py\n", ["run", "trian"],
                     "hydraflow: error: no job 'trian' in hydraflow.yaml (did you mean 'train'?); jobs: train\n",
                     id="unknown-job"),
        pytest.param("jobs:\n  t:\n    run: python train.py\n    steps:\n      - batch: a=(1\n", ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:5: jobs.t.steps[0].batch: unclosed '(' in override\n"
                     "    a=(1\n      ^\nhint: close the group with ')'\n", id="bad-syntax-in-file"),
        pytest.param("jobs:\n  t:\n    run: python train.py\n", ["run", "t", "lr=1:x"],
                     "hydraflow: error: range stop 'x' is not a number in override\n", id="bad-args"),
        pytest.param("jobs:\n  t:\n    call: nomodule.fn\n", ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:3: jobs.t.call: cannot import 'nomodule': No module named 'nomodule'\n",
                     id="call-import-error"),
        pytest.param("jobs:\n  t:\n    call: raising.fn\n", ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:3: jobs.t.call: importing 'raising' failed: "
                     "raising.py:3: ZeroDivisionError: division by zero\n", id="call-module-raises-on-import"),
        pytest.param("jobs:\n  t:\n    call: broken.fn\n", ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:3: jobs.t.call: importing 'broken' failed: "
                     "broken.py:2: SyntaxError: unmatched ')'\n", id="call-module-has-a-syntax-error"),
        pytest.param("jobs:\n  t:\n    run: python train.py\n    steps:\n      - batch: a=1:1000 b=1:1000 c=1:1000\n",
                     ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:3: jobs.t: 1000000000 batches, more than the limit of 100000 "
                     "(raise it with --max-batches N, or move a sweep from batch to args)\n", id="grid-of-1e9-batches"),
        pytest.param("jobs:\n  t:\n    run: python train.py\n    steps:\n      - batch: a=1:3\n",
                     ["run", "t", "--max-batches", "2"],
                     "hydraflow: error: hydraflow.yaml:3: jobs.t: 3 batches, more than the limit of 2 "
                     "(raise it with --max-batches N, or move a sweep from batch to args)\n", id="max-batches"),
        pytest.param("jobs:\n  t:\n    run: python train.py\n    steps:\n      - batch: a=1,2|b=3\n", ["run", "t", "b=5"],
                     "hydraflow: error: 'b' is set by the batch grid and again by ARGS (b=5); set it in one place\n",
                     id="args-set-a-key-of-a-pipe-section"),
        pytest.param("jobs:\n  t:\n    run: python train.py\n    steps:\n      - batch: a=1,2\n",
                     ["run", "t", "x=0:1:#30000"],
                     "hydraflow: error: 'x' in ARGS gives 30000 values, 539987 bytes as one comma sweep, more than "
                     "one command-line argument may hold (131071 bytes); sweep fewer values per batch (move some to "
                     "batch), or use whole numbers with one step (passed on as Hydra's range())\n",
                     id="args-too-long-for-one-argument"),
        pytest.param("jobs:\n  t:\n    run: !!binary cHl0aG9uIHRyYWluLnB5\n", ["run", "t"],
                     "hydraflow: error: hydraflow.yaml:3: jobs.t.run: YAML tag '!!binary' is not allowed; write plain "
                     "text (quote it if needed)\n", id="binary-tag"),
        pytest.param("jobs:\n  t:\n    run: python train.py\n", ["run", "--dry-run"],
                     "hydraflow: error: name a job: hydraflow run JOB [ARGS...] (hydraflow run alone lists them)\n",
                     id="dry-run-without-job"),
    ],
)
def test_bad_input_exits_2_with_one_message(app, yaml_text, args, message):
    (app / "hydraflow.yaml").write_text(yaml_text)
    (app / "raising.py").write_text("import os\n\nx = 1 / 0\n")
    (app / "broken.py").write_text("def fn(arguments):\n    return )\n")
    result = hydraflow(app, *args)
    assert result.stderr.startswith(message)  # syntax errors go on with their caret lines
    assert result.stderr.count("hydraflow: error:") == 1 and "Traceback" not in result.stderr
    assert result.returncode == 2
    assert not (app / "multirun").exists()


def test_run_without_a_job_lists_the_jobs(app):
    (app / "hydraflow.yaml").write_text(
        "jobs:\n  a:\n    run: python train.py\n    steps:\n      - batch: x=1:3\n"
        "  bb:\n    call: launch.sweep\n")
    result = hydraflow(app, "run")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == ("jobs in hydraflow.yaml:\n"
                             "  a   run   3 batches  python train.py\n"
                             "  bb  call  1 batch    launch.sweep\n"
                             "run one with: hydraflow run JOB [ARGS...] (--dry-run shows its commands)\n")


def test_a_batch_that_cannot_start_fails_alone_with_a_message(app):
    (app / "go").write_text("not a program\n")  # executable, but no '#!': exec says ENOEXEC
    (app / "go").chmod(0o755)
    (app / "hydraflow.yaml").write_text("jobs:\n  t:\n    run: ./go\n    steps:\n      - batch: a=1,2\n")
    result = hydraflow(app, "run", "t")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (run_dir,) = run_dirs(app, "t")
    assert [b["state"] for b in summary(run_dir)["batches"]] == ["failed", "failed"]  # both were tried
    assert (run_dir / "0-a-1" / "hydraflow.log").read_text() == (
        "hydraflow: cannot start the batch: [Errno 8] Exec format error\n")
    assert "0 completed" not in result.stdout and "2 failed" in result.stdout


def test_a_long_integer_inner_sweep_goes_to_hydra_as_range(app):
    """seed=1:30000 joined is 170 kB, over Linux's 128 KiB per argument: Hydra gets range(1,30001)."""
    (app / "hydraflow.yaml").write_text("jobs:\n  t:\n    run: python train.py\n    steps:\n"
                                        "      - args: seed=1:30000\n")
    dry = hydraflow(app, "run", "t", "--dry-run")
    assert dry.stdout.splitlines()[1].startswith("python train.py -m 'seed=range(1,30001)' hydra.job.name=t ")
    # Hydra reads it as the same 30000 runs (its range() stops before the stop).
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (override,) = OverridesParser.create().parse_overrides(["seed=range(1,30001)"])
    assert list(override.sweep_iterator()) == list(range(1, 30001))


def test_call_job_log_holds_only_the_batch_output_on_a_terminal(app):
    """On a terminal the live bar is drawn; it must not reach the batch's log (fds 1 and 2)."""
    import pty

    (app / "quiet.py").write_text("import sys\n\ndef fn(arguments):\n    print('out', arguments)\n"
                                  "    print('err', file=sys.stderr)\n")
    (app / "hydraflow.yaml").write_text("jobs:\n  t:\n    call: quiet.fn\n    steps:\n      - batch: a=1,2\n")
    leader, follower = pty.openpty()
    process = subprocess.Popen([HYDRAFLOW, "run", "t"], cwd=app, env={**ENV, "TERM": "xterm"},
                               stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(timeout=60) == 0, shown
    (run_dir,) = run_dirs(app, "t")
    for batch, value in (("0-a-1", "a=1"), ("1-a-2", "a=2")):
        log = (run_dir / batch / "hydraflow.log").read_text()
        assert log == f"quiet.fn(['{value}', 'hydra.job.name=t', 'hydra.sweep.dir=multirun/t/{run_dir.name}/{batch}'])\n" \
                      f"out ['{value}', 'hydra.job.name=t', 'hydra.sweep.dir=multirun/t/{run_dir.name}/{batch}']\nerr\n"
    assert b"2 completed" in shown  # the summary did reach the terminal


@pytest.mark.parametrize("handler", ["submit.sh", "submit_array.sh"])
def test_submit_handlers_keep_a_newline_inside_a_value(app, tmp_path, handler):
    """A value with a newline stays on its batch's line ($'...'); the text after it never runs."""
    from hydraflow_core.jobs.model import Job, Step
    from hydraflow_core.jobs.batches import plan_job
    from hydraflow_core.jobs.submit import batches_file_text

    value = "+note=first line\ntouch pwned; it's"
    plan = plan_job(Job("t", "submit", "x", steps=(Step(batch=("a=1,2",), with_=(value,)),)), (), "R")
    (app / "batches.txt").write_text(batches_file_text(plan))
    assert len((app / "batches.txt").read_text().splitlines()) == 2
    fake = tmp_path / "bin"  # a stand-in `python` that records what it was given
    fake.mkdir()
    (fake / "python").write_text(f"#!{sys.executable}\nimport json, sys\n"
                                 "open('calls.jsonl', 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    (fake / "python").chmod(0o755)
    env = {**ENV, "PATH": f"{fake}{os.pathsep}{ENV['PATH']}"}
    tasks = [{}] if handler == "submit.sh" else [{"SLURM_ARRAY_TASK_ID": "0"}, {"SLURM_ARRAY_TASK_ID": "1"}]
    for task in tasks:
        subprocess.run(["bash", handler, "batches.txt"], cwd=app, env={**env, **task}, check=True)
    calls = [json.loads(line) for line in (app / "calls.jsonl").read_text().splitlines()]
    assert calls == [["train.py", "-m", *b.arguments] for b in plan.batches]
    assert calls[0][3] == value
    assert not (app / "pwned").exists()


def test_missing_job_file(tmp_path):
    result = subprocess.run([HYDRAFLOW, "run", "train"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == (f"hydraflow: error: no hydraflow.yaml in {tmp_path} "
                             "(write one, or give its path with --file PATH)\n")


def test_file_option_runs_in_the_job_files_directory(app, tmp_path):
    result = subprocess.run([HYDRAFLOW, "run", "once", "--file", str(app / "hydraflow.yaml")],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(run_dirs(app, "once")) == 1


def test_show(app):
    result = hydraflow(app, "show", "lr_scan")
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout) == {"jobs": {"lr_scan": {
        "run": "python train.py",
        "with": "seed=1 hydra.job.chdir=false",
        "steps": [
            {"batch": "model=small,large", "args": "learning_rate=1m:5m:2m", "with": "seed=2"},
            {"batch": "model=small", "args": "learning_rate/m=10,20"},
        ],
    }}}
    everything = yaml.safe_load(hydraflow(app, "show").stdout)
    assert list(everything["jobs"]) == list(yaml.safe_load((app / "hydraflow.yaml").read_text())["jobs"])


def starts_of_runs(run_dir: Path) -> dict:
    """{batch dir name: {run overrides joined: times started}}, from each batch's own manifest."""
    out = {}
    for batch in sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out[batch.name] = {" ".join(r.overrides): r.starts for r in manifest.read(batch).runs}
    return out


GROW = "jobs:\n  grow:\n    run: python train.py\n    steps:\n      - batch: learning_rate={batch}\n        args: seed={args}\n"


@pytest.mark.parametrize("grown, args, ran, skipped", [
    # the acceptance: one more batch value, only the new batch's runs run
    pytest.param("0.1,0.2,0.3", "0,1", {"2-learning_rate-0.3": {"learning_rate=0.3 seed=0": 1,
                                                               "learning_rate=0.3 seed=1": 1}}, 2, id="a-batch-more"),
    # a wider inner sweep: every batch resumed inside, only the new runs run
    pytest.param("0.1,0.2", "0:2", {"0-learning_rate-0.1": {"learning_rate=0.1 seed=0": 1, "learning_rate=0.1 seed=1": 1,
                                                           "learning_rate=0.1 seed=2": 1},
                                   "1-learning_rate-0.2": {"learning_rate=0.2 seed=0": 1, "learning_rate=0.2 seed=1": 1,
                                                           "learning_rate=0.2 seed=2": 1}}, 0, id="args-grown"),
    # a batch value dropped, one reordered: nothing new runs, nothing runs twice
    pytest.param("0.2", "0,1", {}, 1, id="nothing-new"),
])
def test_run_resume_runs_only_what_the_last_run_did_not_complete(app, grown, args, ran, skipped):
    (app / "hydraflow.yaml").write_text(GROW.format(batch="0.1,0.2", args="0,1"))
    assert hydraflow(app, "run", "grow").returncode == 0
    (run_dir,) = run_dirs(app, "grow")
    before = starts_of_runs(run_dir)
    (app / "hydraflow.yaml").write_text(GROW.format(batch=grown, args=args))
    result = hydraflow(app, "run", "grow", "--resume")
    assert result.returncode == 0, result.stdout + result.stderr
    assert run_dirs(app, "grow") == [run_dir]  # the same run, continued
    assert f"{skipped} batch(es) completed there earlier are not run again" in result.stderr
    after = starts_of_runs(run_dir)
    for batch, runs in after.items():  # each run started once, over both launches
        assert set(runs.values()) == {1}, (batch, runs)
    assert {b: r for b, r in after.items() if b not in before or r != before[b]} == ran
    state = manifest.read(run_dir)
    assert state.complete and [a["kind"] for a in state.attempts] == ["run"] + ["resume"] * bool(ran)
    assert overrides_of_runs(run_dir) == {b: [o.split() for o in runs] for b, runs in after.items()}


def test_run_resume_without_an_earlier_run_is_a_new_run(app):
    (app / "hydraflow.yaml").write_text(GROW.format(batch="0.1", args="0"))
    result = hydraflow(app, "run", "grow", "--resume")
    assert result.returncode == 0 and "no earlier run under multirun/grow/: a new run" in result.stderr
    assert len(run_dirs(app, "grow")) == 1
