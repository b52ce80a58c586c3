"""`hydraflow status --watch`, `retry` with nothing to do, `cancel` of a local sweep, a claim left by a killed
process, and the manifest's public format: real sweeps of a small app, through the command lines (README:
"Never lose a run", "Running on Slurm: One launch at a time", "The manifest format")."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import pids_running
from hydraflow_core.manifest import HOST

PYTHON = sys.executable
BIN = Path(sys.executable).parent
HYDRAFLOW = str(BIN / "hydraflow")

#: Runs with ``seed`` in ``fail`` fail their first ``times`` tries (counted in files under $MARKERS); each
#: run sleeps ``sleep`` seconds first.
APP = '''
import os, pathlib, time, hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    marker = pathlib.Path(os.environ["MARKERS"]) / f"{cfg.seed}"
    tries = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(tries))
    time.sleep(cfg.sleep)
    if cfg.seed in cfg.fail and tries <= cfg.times:
        raise RuntimeError(f"seed {cfg.seed} fails on try {tries}")
    return cfg.seed

if __name__ == "__main__":
    main()
'''


@pytest.fixture
def app(tmp_path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "markers").mkdir()
    return tmp_path


def env(app: Path) -> dict:
    out = {**os.environ, "MARKERS": str(app / "markers"), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    out.pop("HYDRAFLOW_REPLAY", None)
    return out


def argv(seeds: str = "0:2", sleep: float = 0, fail: str = "[]", *more: str) -> list:
    return [PYTHON, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep", f"+seed={seeds}",
            f"+sleep={sleep}", f"+fail={fail}", "+times=1", *more]


def sweep(app: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv(*args, **kwargs), cwd=app, env=env(app), capture_output=True, text=True, timeout=120)


def start(app: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(argv(*args), cwd=app, env=env(app), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def hydraflow(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HYDRAFLOW, *args], cwd=app, env=env(app), capture_output=True, text=True, timeout=120)


def status_json(app: Path, directory: str = "sweep") -> dict:
    return json.loads(hydraflow(app, "status", directory, "--json").stdout)


def records(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


def events(app: Path) -> list:
    return [e for path in sorted((app / "sweep" / ".hydraflow" / "events").glob("*.jsonl")) for e in records(path)]


def wait_until(condition, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the sweep ended (exit {process.returncode}) before {what}:\n"
                                 + "\n".join(process.communicate()))
        assert time.monotonic() < deadline, f"no {what} after 60 s"
        time.sleep(0.02)


def started(app: Path) -> set:
    try:
        return {e["run"] for e in events(app) if e["event"] == "start"}
    except (OSError, ValueError):  # not there yet, or a line being written
        return set()


# --------------------------------------------------------------------------- status --watch


@pytest.mark.parametrize("fail, code, last, states", [
    pytest.param("[]", 0, "sweep: 3 runs — 3 completed", ["completed"] * 3, id="all-complete"),
    pytest.param("[1]", 1, "sweep: 3 runs — 2 completed, 1 failed", ["completed", "failed", "completed"],
                 id="one-failed"),
])
def test_status_watch_refreshes_until_nothing_is_pending_or_running(app, fail, code, last, states):
    process = start(app, "0:2", 1, fail)
    wait_until(lambda: started(app), "a run's start", process)
    watch = hydraflow(app, "status", "sweep", "--watch")
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    # One status per refresh (a header line, then the table), the first while runs were under way, the last
    # once every run had ended; on a pipe, nothing clears the screen between them.
    lines = watch.stdout.splitlines()
    headers = [line for line in lines if line.startswith("sweep: 3 runs — ")]
    assert len(headers) >= 2 and len(headers) == watch.stdout.count("┏"), watch.stdout
    assert "running" in headers[0], headers
    assert headers[-1] == last and all("running" in h or "pending" in h for h in headers[:-1]), headers
    table = lines[lines.index(headers[-1]):]
    assert [row.split("│")[2].strip() for row in table if row.startswith("│")] == states
    assert "\x1b[2J" not in watch.stdout and watch.stderr == ""
    assert watch.returncode == code  # 0 only when every run completed


# --------------------------------------------------------------------------- retry with nothing to do


def test_retry_of_a_complete_sweep_runs_nothing_and_exits_0(app):
    assert sweep(app, "0:1").returncode == 0
    before = sorted((app / "sweep" / ".hydraflow").rglob("*"))
    result = hydraflow(app, "retry", "sweep")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"hydraflow: nothing to retry in {app / 'sweep'}: 2 completed\n", "")
    assert sorted((app / "sweep" / ".hydraflow").rglob("*")) == before  # no attempt, no replay, no claim left
    assert [r["starts"] for r in status_json(app)["runs"]] == [1, 1]


def test_retry_of_a_complete_job_run_runs_nothing_and_exits_0(app):
    (app / "hydraflow.yaml").write_text("jobs:\n  once:\n    run: python app.py\n    steps:\n      - batch: +seed=0,1\n"
                                        "    with: hydra/launcher=hydraflow +sleep=0 +fail=[] +times=1\n")
    assert hydraflow(app, "run", "once").returncode == 0
    (run_dir,) = (app / "multirun" / "once").iterdir()
    shown = str(run_dir.relative_to(app))
    result = hydraflow(app, "retry", shown)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"hydraflow: nothing to retry in {run_dir}: 2 completed\n", "")
    assert status_json(app, shown)["attempts"] == 1


# --------------------------------------------------------------------------- cancel of a local sweep


def test_cancel_stops_a_local_sweeps_launcher_which_records_its_runs(app):
    marker = uuid.uuid4().hex
    process = start(app, "0:3", 60, "[]", "hydra.launcher.max_parallel=2", f"+marker={marker}")
    wait_until(lambda: started(app) == {0, 1}, "two runs' starts", process)
    cancelled = hydraflow(app, "cancel", "sweep")
    where = app / "sweep"
    assert (cancelled.returncode, cancelled.stdout, cancelled.stderr) == (
        0, f"hydraflow: cancelled launcher pid {process.pid}; `hydraflow status {where}` shows each run, "
           f"`hydraflow retry {where}` runs again what did not complete\n", "")
    out, err = process.communicate(timeout=60)  # the launcher stops as on SIGTERM ...
    assert process.returncode == 143, err
    assert "hydraflow: interrupted after 0 of 4 runs (0 failed)" in err and "Traceback" not in err
    assert pids_running(marker) == []  # ... and its workers with it
    state = status_json(app)
    assert [(r["state"], r["error"]) for r in state["runs"]] == [
        ("interrupted", "stopped by a signal"), ("interrupted", "stopped by a signal"), ("planned", None),
        ("planned", None)]
    last = records(app / "sweep" / ".hydraflow" / "attempts.jsonl")[-1]  # the cancel is recorded
    assert (last["attempt"], last["kind"], last["cancelled"]) == (2, "cancel", [f"launcher pid {process.pid}"])
    again = hydraflow(app, "cancel", "sweep")
    assert (again.returncode, again.stdout) == (
        0, f"hydraflow: nothing to cancel in {where}: no run is pending or running\n")


# --------------------------------------------------------------------------- a claim left by a killed process

HOLD = ("import sys, time\nfrom hydraflow_core.manifest.claim import Claim\nClaim.take(sys.argv[1])\n"
        "print('held', flush=True)\ntime.sleep(120)\n")


@pytest.mark.parametrize("then", ["retry", "launch"])
@pytest.mark.parametrize("holder", ["killed", "alive"])
def test_a_claim_left_by_a_killed_process_is_taken_over(app, then, holder):
    assert sweep(app, "0:2", 0, "[1]").returncode == 1  # #1 failed: a retry has something to do
    process = subprocess.Popen([PYTHON, "-c", HOLD, "sweep"], cwd=app, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "held\n"
        claim = json.loads((app / "sweep" / ".hydraflow" / "claim.json").read_text())
        assert (claim["pid"], claim["host"]) == (process.pid, HOST)
        if holder == "killed":
            process.kill()
            process.wait()
        before = len(events(app))
        result = hydraflow(app, "retry", "sweep") if then == "retry" else sweep(app, "0:2")
        if holder == "alive":  # refused, naming the holder; nothing ran
            assert result.returncode == 2, result.stdout + result.stderr
            assert f"sweep is being launched into by pid {process.pid} on {HOST}" in result.stderr
            assert "Traceback" not in result.stderr
            assert len(events(app)) == before and status_json(app)["attempts"] == 1
            return
    finally:
        process.kill()
        process.wait()
    assert result.returncode == 0, result.stdout + result.stderr
    state = status_json(app)
    assert state["counts"] == {"completed": 3}
    if then == "retry":  # the same sweep, one more attempt: #1 only
        assert state["attempts"] == 2 and [r["starts"] for r in state["runs"]] == [1, 2, 1]
    else:  # a new sweep into the directory: the earlier sweep moved aside whole (README: a sweep directory used again)
        assert state["attempts"] == 1 and [r["starts"] for r in state["runs"]] == [1, 1, 1]
        (kept,) = app.glob("sweep/earlier/*/.hydraflow")
        assert [a["kind"] for a in records(kept / "attempts.jsonl")] == ["launch"]
        assert not (kept / "claim.json").exists()  # the new launch's claim is not left in the old record
    assert not (app / "sweep" / ".hydraflow" / "claim.json").exists()  # released at the end


# --------------------------------------------------------------------------- status --json, as README names it

def _documented_status_fields() -> set:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    listed = readme.split("`--json` prints one JSON document (", 1)[1].split("); `--watch`", 1)[0]
    return set(re.findall(r"`([a-z_]+)`", listed))


JOB_FILE = """
jobs:
  t:
    run: python app.py
    steps:
      - batch: +seed=0,1
        args: hydra/launcher=hydraflow +sleep=0 +fail=[] +times=1
"""


def test_every_field_of_status_json_is_in_the_readme(app):
    """Every key `status --json` writes, of a sweep (a run that returned a value, a failed run), of a job's run
    directory (batches: a command's exit code), and of a Slurm sweep's pending runs, is named in README."""
    from hydraflow_core.cli.status import as_json
    from hydraflow_core.manifest import PENDING, RunRecord, SweepState

    assert sweep(app, "0:1", 0, "[1]").returncode == 1
    (app / "hydraflow.yaml").write_text(JOB_FILE)
    assert hydraflow(app, "run", "t").returncode == 0
    (run_dir,) = (app / "multirun" / "t").iterdir()
    written = [status_json(app), status_json(app, str(run_dir))]
    assert "return_value" in written[0]["runs"][0] and "returncode" in written[1]["runs"][0]
    pending = RunRecord(0, ["+seed=0"], state=PENDING, reason="Priority",
                        extra={"name": "b", "sweep_dir": "b", "slurm": {"partition": "gpu"}})
    written.append(as_json(SweepState(app, {"sweep_dir": str(app), "kind": "job"}, [], [pending], to_come=(4, 2))))
    assert {"waiting", "to_submit"} <= set(written[2])
    keys = {key for document in written for key in document} | {
        key for document in written for run in document["runs"] for key in run}
    assert sorted(keys - _documented_status_fields()) == []


# --------------------------------------------------------------------------- the manifest's public format

# Each file's fields as README's "The manifest format" names them (any other field fails the test: a new field
# of a public format is documented first).
MANIFEST = {"format", "version", "kind", "created", "sweep_dir", "runs", "launch", "job_name", "sweeper", "launcher"}
MANIFEST_UNDOCUMENTED: set = set()
LAUNCH = {"python", "argv", "cwd", "overrides", "launcher"}
PLAN = {"run", "overrides", "group", "task"}
ATTEMPT = {"attempt", "time", "host", "pid", "kind", "launcher", "pid_start", "runs", "argv"}
ATTEMPT_UNDOCUMENTED: set = set()
START = {"run", "attempt", "time", "event", "host", "pid", "job_id", "output_dir", "log", "pid_start"}
START_UNDOCUMENTED: set = set()
# and `error` when it did not complete, `returncode` (commands), `return_value` (small plain data)
END = {"run", "attempt", "time", "event", "state", "output_dir", "log"}
END_OPTIONAL = {"return_value"}
CLAIM = {"token", "host", "pid", "pid_start", "time"}


def test_the_manifest_format_of_a_real_sweep_and_its_retry(app):
    assert sweep(app, "0:2", 0, "[1]", "hydra.launcher.max_parallel=2").returncode == 1
    assert hydraflow(app, "retry", "sweep").returncode == 0
    directory = app / "sweep" / ".hydraflow"
    files = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    event_files = [f for f in files if f.startswith("events/")]
    replay_specs = [f for f in files if f.startswith("replay-") and f.endswith(".json")]
    assert sorted(set(files) - set(event_files) - set(replay_specs)) == ["attempts.jsonl", "manifest.json",
                                                                         "plan.jsonl"]
    assert len(replay_specs) == 1  # the retry's
    # All UTF-8 JSON; manifest.json written once, the .jsonl files one object per line.
    header = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert set(header) - MANIFEST_UNDOCUMENTED == MANIFEST
    assert (header["format"], header["version"], header["kind"], header["runs"]) == (
        "hydraflow-manifest", 1, "sweep", 3)
    assert header["sweep_dir"] == str(app / "sweep") and isinstance(header["created"], float)
    launch = header["launch"]
    assert set(launch) == LAUNCH
    assert (launch["python"], launch["cwd"]) == (PYTHON, str(app))
    assert launch["argv"] == [PYTHON, *argv("0:2", 0, "[1]", "hydra.launcher.max_parallel=2")[1:]]
    assert launch["overrides"] == {"task": ["+seed=0:2", "+sleep=0", "+fail=[1]", "+times=1"],
                                   "hydra": ["hydra/launcher=hydraflow", "hydra.sweep.dir=sweep",
                                             "hydra.launcher.max_parallel=2", "hydra.mode=MULTIRUN"]}
    assert launch["launcher"]["max_parallel"] == 2 and launch["launcher"]["backend"] == "local"

    assert records(directory / "plan.jsonl") == [
        {"run": n, "overrides": [f"+seed={n}", "+sleep=0", "+fail=[1]", "+times=1"], "group": 0, "task": n}
        for n in range(3)]

    attempts = records(directory / "attempts.jsonl")
    assert [set(a) - ATTEMPT_UNDOCUMENTED for a in attempts] == [ATTEMPT, ATTEMPT | {"numbers"}]
    assert [(a["attempt"], a["kind"], a.get("numbers"), a["host"]) for a in attempts] == [
        (1, "launch", None, HOST), (2, "retry", [1], HOST)]
    assert all(a["launcher"]["max_parallel"] == 2 for a in attempts)

    # events/A-HOST-PID.jsonl: one file per process and attempt, holding only that process's records.
    by_file = {f: records(directory / f) for f in event_files}
    for name, written in by_file.items():
        attempt, host, pid = Path(name).stem.split("-", 2)
        assert {(e["attempt"], e.get("host", host), e.get("pid", int(pid))) for e in written} == {
            (int(attempt), HOST, int(pid))}, name
    every = [e for written in by_file.values() for e in written]
    starts = [e for e in every if e["event"] == "start"]
    ends = [e for e in every if e["event"] == "end"]
    assert len(starts) + len(ends) == len(every)  # no launcher's record: no process died
    assert all(set(e) - START_UNDOCUMENTED == START for e in starts)
    assert sorted((e["attempt"], e["run"]) for e in starts) == [(1, 0), (1, 1), (1, 2), (2, 1)]
    for e in starts:
        assert (e["job_id"], e["output_dir"]) == (f"local:{e['pid']}", str(app / "sweep" / str(e["run"])))
        assert e["log"] == str(app / "sweep" / str(e["run"]) / "app.log")
    assert sorted((e["attempt"], e["run"], e["state"], e.get("error")) for e in ends) == [
        (1, 0, "completed", None), (1, 1, "failed", "RuntimeError: seed 1 fails on try 1"),
        (1, 2, "completed", None), (2, 1, "completed", None)]
    assert all(set(e) - END_OPTIONAL - {"error"} == END for e in ends)

    # claim.json: there while a launch runs, with the process that holds the sweep; gone once it ended.
    process = start(app, "0:0", 60)
    try:
        wait_until(lambda: started(app) == {0}, "the run's start", process)
        claim = json.loads((directory / "claim.json").read_text())
        assert set(claim) == CLAIM and (claim["pid"], claim["host"]) == (process.pid, HOST)
    finally:
        process.kill()
        process.communicate()
