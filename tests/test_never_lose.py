"""Issue 8, acceptance: never lose a run.

Real processes only (the example app, `hydraflow run`, `hydraflow status` and
`hydraflow retry` through their command lines), as a new user would try them:

- a plugin sweep whose launcher is SIGKILLed or SIGTERMed half way, then
  status / retry / status;
- the same with `hydraflow run` over a 6-batch job;
- a task raising an exception that cannot be unpickled;
- a sweep into a directory on a full filesystem;
- retry's refusals, and a retry of a retry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import yaml

from hydraflow_core import manifest

from conftest import pids_running

PYTHON = sys.executable
BIN = Path(sys.executable).parent
HYDRAFLOW = str(BIN / "hydraflow")
# `python` in a job's `run:` must be this environment's python.
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
ENV.pop("HYDRAFLOW_REPLAY", None)

RUNS = 20
SLEEP = 0.25  # seconds per run


# --------------------------------------------------------------------------- helpers


def hydraflow(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([HYDRAFLOW, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    result.output = result.stdout + result.stderr
    return result


def status_json(cwd: Path, directory: str) -> dict:
    result = hydraflow(cwd, "status", directory, "--json")
    assert result.stdout.strip(), result.output
    try:
        data = json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"not JSON: {result.output}") from None
    data["returncode"] = result.returncode
    return data


def wait_for(condition, what: str, timeout: float = 60, process: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the process ended (exit {process.returncode}) before {what}:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def wait_gone(marker: str, timeout: float = 20) -> None:
    """Every process whose command line holds ``marker`` (the sweep's workers, batches) has ended."""
    deadline = time.monotonic() + timeout
    while pids_running(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids_running(marker) == [], f"processes left running: {pids_running(marker)}"


def results(sweep: Path) -> Dict[int, dict]:
    """{run number: its result.json} for the runs of ``sweep`` that finished."""
    out = {}
    for path in sweep.glob("*/result.json"):
        if path.parent.name.isdigit():
            try:
                out[int(path.parent.name)] = json.loads(path.read_text())
            except ValueError:  # being written this instant (the app writes it with one write_text)
                continue
    return out


def events(directory: Path) -> List[dict]:
    """Every well-formed event line of a manifest (all attempts, all writers)."""
    out = []
    for path in sorted((directory / ".hydraflow" / "events").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def runs_started_in_attempt(directory: Path, attempt: int) -> List[int]:
    return sorted(e["run"] for e in events(directory) if e.get("attempt") == attempt and e.get("event") == "start")


def completed_ends(directory: Path) -> Dict[int, int]:
    """{run: how many times it was recorded as completed, over every attempt}."""
    out: Dict[int, int] = {}
    for e in events(directory):
        if e.get("event") == "end" and e.get("state") == "completed":
            out[e["run"]] = out.get(e["run"], 0) + 1
    return out


def assert_each_dir_holds_one_run(sweep: Path, total: int, seeds=None) -> None:
    """Exactly ``total`` run dirs 0..total-1, each with its own run's result (the right seed)."""
    dirs = sorted(int(p.name) for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert dirs == list(range(total))
    found = results(sweep)
    assert sorted(found) == list(range(total)), f"runs without result.json: {set(range(total)) - set(found)}"
    for number, result in found.items():
        expected = number if seeds is None else seeds[number]
        assert result["cfg"]["seed"] == expected, (number, result["cfg"])
        overrides = yaml.safe_load((sweep / str(number) / ".hydra" / "overrides.yaml").read_text())
        assert {f"seed={expected}", f"+seed={expected}"} & set(overrides), (number, overrides)
    ends = completed_ends(sweep)
    assert ends == {n: 1 for n in range(total)}, f"runs not completed exactly once: {ends}"


def start_sweep(app: Path, marker: str, max_parallel: int, sleep: float = SLEEP, runs: int = RUNS,
                sweep: str = "sweep") -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "train.py", "-m", f"hydra.sweep.dir={sweep}", f"seed=0:{runs - 1}", f"sleep={sleep}",
         f"hydra.launcher.max_parallel={max_parallel}", f"+marker={marker}"],
        cwd=app, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def a_run_just_started(sweeps) -> bool:
    """True when a run of one of ``sweeps`` started less than half a run's sleep ago and has no result yet:
    a signal sent now lands inside that run, not between its result.json and its end record."""
    now = time.time()
    return any(e.get("event") == "start" and now - e["time"] < SLEEP / 2
               and not (sweep / str(e["run"]) / "result.json").exists()
               for sweep in sweeps for e in events(sweep))


def stop_half_way(app: Path, process: subprocess.Popen, sig: int, sweep: str = "sweep", at: int = 8) -> None:
    """Send ``sig`` to the launcher once ``at`` runs have finished, in the middle of a next run's sleep."""
    wait_for(lambda: len(results(app / sweep)) >= at, f"{at} result.json files", process=process)
    wait_for(lambda: a_run_just_started([app / sweep]), "a run to start", process=process)
    process.send_signal(sig)


def counts_line(counts: Dict[str, int]) -> str:
    """The counts as `hydraflow status` says them, in its order of states."""
    order = ("planned", "pending", "running", "completed", "failed", "interrupted", "lost")
    return ", ".join(f"{counts[state]} {state}" for state in order if counts.get(state))


# --------------------------------------------------------------------------- 1 and 2: the plugin


@pytest.mark.parametrize("max_parallel", [pytest.param(1, id="in-process"), pytest.param(2, id="two-workers")])
@pytest.mark.parametrize("sig", [pytest.param(signal.SIGKILL, id="SIGKILL"), pytest.param(signal.SIGTERM, id="SIGTERM")])
def test_a_sweep_stopped_half_way_is_shown_and_retried(app, sig, max_parallel):
    marker = uuid.uuid4().hex
    process = start_sweep(app, marker, max_parallel)
    stop_half_way(app, process, sig)
    out, err = process.communicate(timeout=60)
    wait_gone(marker)  # the launcher's workers too: nothing is left running
    sweep = app / "sweep"
    finished = results(sweep)
    assert 0 < len(finished) < RUNS, f"stopped at {len(finished)} runs"

    if sig == signal.SIGTERM:
        assert process.returncode == 143, err
        said = re.search(rf"hydraflow: interrupted after (\d+) of {RUNS} runs", err)
        assert said, err
        assert int(said.group(1)) == len(finished), (said.group(0), sorted(finished))
        assert "Traceback" not in out + err
    else:
        assert process.returncode == -signal.SIGKILL

    # status (README, "Never lose a run"): the runs that were running are `lost` when they died with an
    # in-process launcher's SIGKILL, `interrupted` when workers stopped them as their parent died or a SIGTERM
    # stopped them; the runs never started are `planned`.
    running = set(runs_started_in_attempt(sweep, 1)) - set(finished)
    assert running, "the signal landed between runs"
    cut_short = "lost" if (sig, max_parallel) == (signal.SIGKILL, 1) else "interrupted"
    expected = {n: "completed" if n in finished else cut_short if n in running else "planned" for n in range(RUNS)}
    state = status_json(app, "sweep")
    assert {r["number"]: r["state"] for r in state["runs"]} == expected
    assert (state["returncode"], state["complete"]) == (1, False)
    counts = {s: list(expected.values()).count(s) for s in ("planned", "completed", cut_short)}
    assert state["counts"] == {s: n for s, n in counts.items() if n}
    shown = hydraflow(app, "status", "sweep")
    assert shown.returncode == 1, shown.output
    assert shown.stdout.splitlines()[0] == f"sweep: {RUNS} runs — {counts_line(counts)}"
    if cut_short == "interrupted":
        assert {r["error"] for r in state["runs"] if r["state"] == "interrupted"} == {"stopped by a signal"}

    # retry: only the unfinished runs, into the same numbers and directories
    before = {n: (r["pid"], r["started_at"]) for n, r in finished.items()}
    retried = hydraflow(app, "retry", "sweep")
    assert retried.returncode == 0, retried.output
    unfinished = sorted(set(range(RUNS)) - set(finished))
    assert runs_started_in_attempt(sweep, 2) == unfinished
    after = results(sweep)
    assert {n: (after[n]["pid"], after[n]["started_at"]) for n in finished} == before  # not run again
    assert all(after[n]["started_at"] > max(s for _, s in before.values()) for n in unfinished)

    assert_each_dir_holds_one_run(sweep, RUNS)
    final = hydraflow(app, "status", "sweep")
    assert final.returncode == 0, final.output
    assert status_json(app, "sweep")["counts"] == {"completed": RUNS}


# --------------------------------------------------------------------------- 3: `hydraflow run`

BATCHES = 6
RUNS_PER_BATCH = 2
LRS = ("0.1", "0.2")


def job_file(marker: str) -> str:
    return ("jobs:\n"
            "  six:\n"
            "    run: python train.py\n"
            "    max_parallel: 2\n"
            "    steps:\n"
            f"      - batch: seed=0:{BATCHES - 1}\n"
            f"        args: learning_rate={','.join(LRS)}\n"
            f"        with: sleep={SLEEP} +marker={marker}\n")


def batch_results(run_dir: Path) -> Dict[tuple, dict]:
    """{(batch dir, run number): result.json} over every batch of a `hydraflow run` directory."""
    out = {}
    for path in run_dir.glob("*/*/result.json"):
        out[(path.parent.parent.name, int(path.parent.name))] = json.loads(path.read_text())
    return out


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGKILL, id="SIGKILL"), pytest.param(signal.SIGTERM, id="SIGTERM")])
def test_hydraflow_run_stopped_half_way_is_shown_and_retried(app, sig):
    marker = uuid.uuid4().hex
    (app / "hydraflow.yaml").write_text(job_file(marker))
    process = subprocess.Popen([HYDRAFLOW, "run", "six"], cwd=app, env=ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    runs_root = app / "multirun" / "six"
    # Half way: two batches done and one run of the next ones; the signal lands inside a run.
    wait_for(lambda: len(list(runs_root.glob("*/*/*/result.json"))) >= 5, "5 result.json files",
             process=process)
    wait_for(lambda: a_run_just_started(p.parent for p in runs_root.glob("*/*/.hydraflow")), "a run to start",
             process=process)
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    wait_gone(marker)  # no batch left running as an orphan
    if sig == signal.SIGTERM:
        assert process.returncode == 143, out + err
        assert "Traceback" not in out + err
    else:
        assert process.returncode == -signal.SIGKILL
    (run_dir,) = [p for p in runs_root.iterdir() if p.is_dir()]
    shown_dir = str(run_dir.relative_to(app))
    finished = batch_results(run_dir)
    assert len(finished) < BATCHES * RUNS_PER_BATCH

    # status (README, "Exit codes and signals"): after SIGKILL the batches that were running are `lost` and
    # their runs (the app used hydraflow) `interrupted`; after SIGTERM the batches are `interrupted` too. The
    # batches never started are `planned`.
    full = {b for b in {b for b, _ in finished} if sum(1 for k in finished if k[0] == b) == RUNS_PER_BATCH}
    assert 0 < len(full) < BATCHES
    names = {r["number"]: r["name"] for r in status_json(app, shown_dir)["runs"]}
    running = {names[n] for n in runs_started_in_attempt(run_dir, 1)} - full
    assert running, "no batch was running"
    cut_short = "lost" if sig == signal.SIGKILL else "interrupted"
    expected = {name: "completed" if name in full else cut_short if name in running else "planned"
                for name in names.values()}
    state = status_json(app, shown_dir)
    assert state["kind"] == "job" and (state["returncode"], state["complete"]) == (1, False)
    assert {r["name"]: r["state"] for r in state["runs"]} == expected
    shown = hydraflow(app, "status", shown_dir)
    assert shown.returncode == 1, shown.output
    counts = {s: list(expected.values()).count(s) for s in ("planned", "completed", cut_short)}
    assert shown.stdout.splitlines()[0] == f"{shown_dir} (six): {BATCHES} batches — {counts_line(counts)}"
    for name in running:  # inside a batch cut short: its finished runs completed, the one running interrupted
        inner = run_dir / name
        started = set(runs_started_in_attempt(inner, 1))
        assert {r.number: r.state for r in manifest.read(inner).runs} == {
            n: "completed" if (name, n) in finished else "interrupted" if n in started else "planned"
            for n in range(RUNS_PER_BATCH)}

    before = {k: (r["pid"], r["started_at"]) for k, r in finished.items()}
    retried = hydraflow(app, "retry", shown_dir)
    assert retried.returncode == 0, retried.output
    # only the batches that did not complete ran again ...
    attempt_2 = runs_started_in_attempt(run_dir, 2)
    assert attempt_2 == sorted(r["number"] for r in state["runs"] if r["state"] != "completed")
    # ... and, inside them, only the runs that had not finished: no finished run ran again
    after = batch_results(run_dir)
    assert {k: (after[k]["pid"], after[k]["started_at"]) for k in finished} == before

    batch_dirs = sorted((p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: int(p.name.split("-")[0]))
    assert [p.name for p in batch_dirs] == [f"{i}-seed-{i}" for i in range(BATCHES)]
    for index, batch in enumerate(batch_dirs):
        runs = sorted(int(p.name) for p in batch.iterdir() if p.is_dir() and p.name.isdigit())
        assert runs == list(range(RUNS_PER_BATCH)), batch
        for number in runs:
            result = after[(batch.name, number)]
            assert result["cfg"]["seed"] == index and str(result["cfg"]["learning_rate"]) == LRS[number]
        assert completed_ends(batch) == {n: 1 for n in range(RUNS_PER_BATCH)}, batch
    final = hydraflow(app, "status", shown_dir)
    assert final.returncode == 0, final.output


# --------------------------------------------------------------------------- 4: an unpicklable exception

UNPICKLABLE_APP = '''
import json
import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


class TwoArgError(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    time.sleep(0.2)
    if cfg.seed == 2:
        raise TwoArgError("first", "second")
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "result.json").write_text(json.dumps({"seed": cfg.seed, "pid": os.getpid()}))


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("runs_per_task", [1, 2])
def test_an_exception_that_cannot_be_unpickled_fails_its_run_only(tmp_path, runs_per_task):
    (tmp_path / "app.py").write_text(UNPICKLABLE_APP)
    result = subprocess.run(
        [PYTHON, "app.py", "-m", "hydra/launcher=hydraflow", "hydra.sweep.dir=sweep", "+seed=0:5",
         "hydra.launcher.max_parallel=2", f"hydra.launcher.runs_per_task={runs_per_task}"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert sorted(results(tmp_path / "sweep")) == [0, 1, 3, 4, 5]  # the runs after it ran
    assert "hydraflow: 1 of 6 runs failed (5 completed)" in result.stderr
    assert re.search(r"^  #2 \+seed=2$", result.stderr, re.M), result.stderr
    assert "TwoArgError" in result.stderr
    state = status_json(tmp_path, "sweep")
    assert [r["number"] for r in state["runs"] if r["state"] != "completed"] == [2]
    assert state["counts"] == {"completed": 5, "failed": 1}


# --------------------------------------------------------------------------- 5: a full filesystem

BIG_WRITER_APP = '''
import json
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "blob.bin").write_bytes(b"x" * 300_000)
    (out / "result.json").write_text(json.dumps({"cfg": {"seed": cfg.seed}, "pid": os.getpid()}))


if __name__ == "__main__":
    main()
'''

NO_SPACE = "No space left on device"


def _without_logging_errors(text: str) -> str:
    """``text`` without Python logging's own reports of a handler that failed ("--- Logging error ---"
    ... "Arguments: ..."): Hydra >= 1.4 logs a failed run's exception to its log file, on the full disk."""
    return re.sub(r"^--- Logging error ---\n.*?^Arguments: .*?$\n?", "", text, flags=re.M | re.S)


def _cannot_mount(reason: str) -> None:
    """Skip where mounting is not permitted; in CI, which runs as root (``HYDRAFLOW_REQUIRE_SLURM=1``, as
    .ci/run sets it, or ``CI``), fail: CI must never pass by skipping the full-disk test."""
    if os.environ.get("HYDRAFLOW_REQUIRE_SLURM") == "1" or os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} [CI must run this test]", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs at tmp_path/full (skipped where mounting is not permitted, failed in CI), always unmounted."""
    where = tmp_path / "full"
    where.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        _cannot_mount("needs root and mount(8) to mount a small tmpfs (a full filesystem)")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        _cannot_mount(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.mark.parametrize("max_parallel", [pytest.param(1, id="in-process"), pytest.param(2, id="two-workers")])
def test_a_full_disk_is_named_once_and_retry_completes_after_space_is_freed(tmp_path, small_tmpfs, max_parallel):
    (tmp_path / "app.py").write_text(BIG_WRITER_APP)
    sweep = small_tmpfs
    result = subprocess.run(
        [PYTHON, "app.py", "-m", "hydra/launcher=hydraflow", f"hydra.sweep.dir={sweep}", f"+seed=0:{RUNS - 1}",
         f"hydra.launcher.max_parallel={max_parallel}"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert NO_SPACE in result.stderr, result.stderr
    assert "Traceback" not in _without_logging_errors(output)
    # Not one message per remaining run, and no worker restarts for ever.
    assert len(_without_logging_errors(result.stderr).splitlines()) < 30, result.stderr
    assert _without_logging_errors(output).count(NO_SPACE) <= max_parallel + 2, output
    assert "worker died" not in output
    earlier = results(sweep)
    assert earlier, "no run finished before the disk was full"
    assert all(r["cfg"]["seed"] == n and (sweep / str(n) / "blob.bin").stat().st_size == 300_000
               for n, r in earlier.items())

    state = status_json(tmp_path, str(sweep))
    assert state["returncode"] != 0 and state["counts"].get("completed") == len(earlier), state["counts"]
    assert "running" not in state["counts"]

    freed = subprocess.run(["mount", "-o", "remount,size=50m", str(sweep)], capture_output=True, text=True)
    assert freed.returncode == 0, freed.stderr
    before = {n: r["pid"] for n, r in earlier.items()}
    retried = hydraflow(tmp_path, "retry", str(sweep))
    assert retried.returncode == 0, retried.output
    after = results(sweep)
    assert {n: after[n]["pid"] for n in earlier} == before  # the earlier runs are intact, not run again
    assert_each_dir_holds_one_run(sweep, RUNS)
    final = hydraflow(tmp_path, "status", str(sweep))
    assert final.returncode == 0, final.output
    # The summary says why the rest of the sweep did not run: the machine's error, named by hydraflow
    # itself (not only as the reason of the run that hit it). Checked last: status and retry above still run.
    assert any(line.startswith("hydraflow:") and NO_SPACE in line for line in result.stderr.splitlines()), \
        result.stderr


# --------------------------------------------------------------------------- 6: retry's refusals, retry of a retry


def test_retry_refuses_a_directory_that_is_not_a_sweep(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("not a sweep\n")
    result = hydraflow(tmp_path, "retry", "plain")
    assert result.returncode == 2, result.output
    assert "not a hydraflow sweep" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def _failing_sweep(app: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([PYTHON, "train.py", "-m", "hydra.sweep.dir=sweep", "seed=0", "fail=false,true"],
                            cwd=app, env=ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    return result


def test_retry_refuses_overrides_that_are_not_launcher_settings(app):
    _failing_sweep(app)
    result = hydraflow(app, "retry", "sweep", "seed=3")
    assert result.returncode == 2, result.output
    assert "seed=3" in result.stderr and "launcher" in result.stderr
    assert "Traceback" not in result.output
    assert runs_started_in_attempt(app / "sweep", 2) == []  # nothing ran
    assert status_json(app, "sweep")["attempts"] == 1
    # A misspelt launcher setting: did-you-mean before the app starts (Hydra would advise a '+').
    misspelt = hydraflow(app, "retry", "sweep", "hydra.launcher.max_paralel=2")
    assert (misspelt.returncode, misspelt.stderr.split(";")[0]) == (
        2, "hydraflow: error: hydra.launcher: max_paralel: unknown field (did you mean 'max_parallel'?)")
    assert status_json(app, "sweep")["attempts"] == 1
    # A launcher setting is accepted (and the run, still failing, fails again).
    accepted = hydraflow(app, "retry", "sweep", "hydra.launcher.max_parallel=2")
    assert accepted.returncode == 1, accepted.output
    assert runs_started_in_attempt(app / "sweep", 2) == [1]


def test_retry_refuses_a_sweep_that_is_still_running(app):
    marker = uuid.uuid4().hex
    process = start_sweep(app, marker, 1, sleep=30, runs=2)
    try:
        wait_for(lambda: (app / "sweep" / "0" / ".hydra").is_dir(), "the first run to start", process=process)
        result = hydraflow(app, "retry", "sweep")
        assert result.returncode == 2, result.output
        assert "still running" in result.stderr
        assert "Traceback" not in result.output
    finally:
        process.kill()
        process.communicate()
        wait_gone(marker)


def test_a_retry_of_a_retry_works(app):
    _failing_sweep(app)
    for attempt in (2, 3):
        result = hydraflow(app, "retry", "sweep")
        assert result.returncode == 1, result.output  # the run fails again: fail=true is its own override
        assert runs_started_in_attempt(app / "sweep", attempt) == [1]  # never the completed run #0
        assert "#1 seed=0 fail=true" in result.stderr
    state = status_json(app, "sweep")
    assert state["attempts"] == 3
    by_number = {r["number"]: r for r in state["runs"]}
    assert by_number[0]["state"] == "completed" and by_number[0]["attempt"] == 1
    assert by_number[1]["state"] == "failed" and by_number[1]["attempt"] == 3
    assert state["returncode"] == 1


def test_a_retry_stopped_half_way_is_retried_again(app):
    """Launch, SIGKILL half way; retry, SIGKILL half way; retry: every run done exactly once."""
    marker = uuid.uuid4().hex
    process = start_sweep(app, marker, 1, runs=12)
    stop_half_way(app, process, signal.SIGKILL, at=4)
    process.communicate(timeout=60)
    wait_gone(marker)
    first = set(results(app / "sweep"))
    retry = subprocess.Popen([HYDRAFLOW, "retry", "sweep"], cwd=app, env=ENV, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    stop_half_way(app, retry, signal.SIGTERM, at=len(first) + 3)
    out, err = retry.communicate(timeout=60)
    assert retry.returncode == 143, out + err
    wait_gone(marker)
    second = set(results(app / "sweep"))
    assert first < second < set(range(12))
    state = status_json(app, "sweep")
    assert state["counts"].get("completed") == len(second) and state["returncode"] == 1, state["counts"]
    last = hydraflow(app, "retry", "sweep")
    assert last.returncode == 0, last.output
    assert runs_started_in_attempt(app / "sweep", 3) == sorted(set(range(12)) - second)
    assert_each_dir_holds_one_run(app / "sweep", 12)
    final = status_json(app, "sweep")
    assert final["returncode"] == 0 and final["attempts"] == 3
