"""The local Slurm cluster for tests: a fixture that requires it, and helpers to use it.

Start the cluster with ``bash .ci/slurm/start-cluster.sh`` (as root). Without a
usable cluster every test that asks for ``slurm_cluster`` is skipped, with the
reason why; with ``HYDRAFLOW_REQUIRE_SLURM=1`` (set by ``.ci/run``) it fails
instead, so CI can never pass by skipping them.

Helpers for tests (``from slurm.conftest import sacct_rows``; ``tests/slurm`` is a
package so that this module does not shadow ``tests/conftest.py``):

* ``sbatch(*args)``: submit, return the job id;
* ``sacct_rows(job_ids)``: the accounting rows of those jobs, polled until they
  are complete (accounting trails squeue by a fraction of a second);
* ``wait_gone(job_ids)``: wait until squeue no longer lists them;
* ``max_array_size()``: MaxArraySize from ``scontrol show config``;
* ``restarted_cluster(max_array_size=N)``: a context manager running the block on
  a cluster restarted with ``LOCAL_SLURM_MAX_ARRAY_SIZE=N``, restored afterwards;
  the ``slurm_restart`` fixture hands it out (and skips/fails like ``slurm_cluster``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_SCRIPT = ROOT / ".ci" / "slurm" / "start-cluster.sh"
STATE_DIR = Path(os.environ.get("LOCAL_SLURM_DIR", "/var/lib/hydraflow-slurm"))
NO_CLUSTER = "no Slurm cluster: start one with `bash .ci/slurm/start-cluster.sh` (as root)"

# Job states after which a job changes no more (sacct prints "CANCELLED by 0").
FINAL_STATES = (
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
    "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT",
)


def is_final(state: str) -> bool:
    return state.split()[0] in FINAL_STATES if state else False


def _run(*cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def cluster_problem() -> str | None:
    """Why the cluster cannot be used, or None when it can."""
    for tool in ("sbatch", "squeue", "scontrol", "sacct", "scancel"):
        if shutil.which(tool) is None:
            return f"{NO_CLUSTER} ({tool} is not on PATH)"
    try:
        deadline = time.monotonic() + 60  # another worker may be restarting it this moment
        ping = _run("scontrol", "ping", timeout=15)
        while " is UP" not in ping.stdout and time.monotonic() < deadline and cluster_settings():
            time.sleep(1)
            ping = _run("scontrol", "ping", timeout=15)
        if " is UP" not in ping.stdout:
            return f"{NO_CLUSTER} (scontrol ping: {(ping.stdout + ping.stderr).strip() or 'no answer'})"
        acct = _run("sacct", "-n", "-X", "-P", "-o", "JobID", "-S", "now", timeout=15)
        if acct.returncode != 0:
            return f"{NO_CLUSTER} (sacct does not work: {acct.stderr.strip()})"
    except subprocess.TimeoutExpired as exc:
        return f"{NO_CLUSTER} ({' '.join(exc.cmd)} timed out)"
    return not_ours()


def not_ours() -> str | None:
    """Why the cluster this machine reaches is not the local test cluster, or None when it is.

    The tests submit hundreds of jobs: only to the cluster start-cluster.sh
    started (its ClusterName), never to a real one a login node reaches --
    unless HYDRAFLOW_TEST_CLUSTER names that cluster on purpose.
    """
    wanted = os.environ.get("HYDRAFLOW_TEST_CLUSTER") or cluster_settings().get("LOCAL_SLURM_CLUSTER")
    if not wanted:
        return (f"{NO_CLUSTER} (the Slurm cluster here was not started by it: the tests submit only to that one, "
                f"or to the cluster HYDRAFLOW_TEST_CLUSTER names)")
    config = _run("scontrol", "show", "config", timeout=15).stdout
    name = next((line.split("=", 1)[1].strip() for line in config.splitlines()
                 if line.split("=", 1)[0].strip() == "ClusterName"), None)
    if name != wanted:
        return f"{NO_CLUSTER} (this machine reaches cluster {name!r}, not the test cluster {wanted!r})"
    return None


def _unusable(reason: str):
    if os.environ.get("HYDRAFLOW_REQUIRE_SLURM") == "1":
        pytest.fail(f"{reason} [HYDRAFLOW_REQUIRE_SLURM=1]", pytrace=False)
    pytest.skip(reason)


def cluster_settings() -> dict:
    """The KEY=VALUE settings start-cluster.sh printed (empty when it did not start the cluster)."""
    try:
        text = (STATE_DIR / "env").read_text()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.fixture(scope="session")
def slurm_cluster() -> dict:
    """A usable Slurm cluster (skip, or fail under HYDRAFLOW_REQUIRE_SLURM=1, if none).

    Returns the settings of start-cluster.sh (LOCAL_SLURM_PARTITION, LOCAL_SLURM_CPUS, ...).
    """
    reason = cluster_problem()
    if reason:
        _unusable(reason)
    settings = cluster_settings()
    settings.setdefault("LOCAL_SLURM_PARTITION", "debug")
    return settings


def sbatch(*args: str) -> str:
    """Submit with ``sbatch --parsable ARGS``; return the job id (an AssertionError shows sbatch's error)."""
    result = _run("sbatch", "--parsable", *args)
    assert result.returncode == 0, f"sbatch {' '.join(args)} failed: {result.stderr.strip()}"
    return result.stdout.strip().split(";")[0]


def wait_gone(job_ids, timeout: float = 60) -> None:
    """Wait until squeue lists none of JOB_IDS (they ended; MinJobAge may keep them a little longer)."""
    ids = ",".join(str(j) for j in _as_list(job_ids))
    deadline = time.monotonic() + timeout
    while True:
        out = _run("squeue", "-h", "-j", ids, "-t", "PD,R,CG,CF,S,RQ,RS,SE,RH", "-o", "%i").stdout
        if not out.strip():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still queued after {timeout} s:\n{out}")
        time.sleep(0.2)


def _as_list(job_ids) -> list:
    return [job_ids] if isinstance(job_ids, (str, int)) else list(job_ids)


def sacct_rows(job_ids, fields=("JobID", "State"), *, count: int | None = None, final: bool = True,
               timeout: float = 60) -> list:
    """Rows (tuples of FIELDS, JobID and State first by default) of sacct for JOB_IDS.

    One row per job or array task (``-X``: no steps). Polls until every row is in
    a final state (``final=False``: until there is at least one row) and, with
    ``count``, until there are COUNT rows: sacct trails squeue by ~0.25 s, and an
    array's own record may show up before those of its other tasks.
    """
    ids = ",".join(str(j) for j in _as_list(job_ids))
    fields = tuple(fields)
    state_at = fields.index("State") if "State" in fields else None
    deadline = time.monotonic() + timeout
    rows: list = []
    while True:
        result = _run("sacct", "-n", "-X", "-P", "-j", ids, "-o", ",".join(fields))
        if result.returncode == 0:
            rows = [tuple(line.split("|")) for line in result.stdout.splitlines() if line.strip()]
            ok = bool(rows) and (count is None or len(rows) == count)
            if ok and final and state_at is not None:
                ok = all(is_final(row[state_at]) for row in rows)
            if ok:
                return rows
        if time.monotonic() > deadline:
            raise AssertionError(
                f"sacct -j {ids}: no complete records after {timeout} s; last rows: {rows} {result.stderr.strip()}"
            )
        time.sleep(0.25)


def max_array_size() -> int:
    """MaxArraySize of the running cluster (from ``scontrol show config``)."""
    out = _run("scontrol", "show", "config").stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize":
            return int(value.strip())
    raise AssertionError("scontrol show config prints no MaxArraySize")


def _start_cluster(env_updates: dict) -> None:
    env = dict(os.environ, **{k: str(v) for k, v in env_updates.items()})
    result = subprocess.run(["bash", str(START_SCRIPT)], env=env, capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise AssertionError(f"start-cluster.sh failed ({env_updates}):\n{result.stderr[-3000:]}")


@contextlib.contextmanager
def restarted_cluster(max_array_size: int):
    """Run the block on the cluster restarted with ``LOCAL_SLURM_MAX_ARRAY_SIZE=max_array_size``.

    Afterwards the cluster is started again with the settings it had before (for
    a cluster started with the defaults: the defaults), even when the block fails.
    Only slurmctld restarts; queued jobs survive it (slurmctld keeps its state).
    """
    before = cluster_settings()
    if not before:
        raise AssertionError(f"the cluster was not started by {START_SCRIPT} ({STATE_DIR / 'env'} missing)")
    keep = {k: before[k] for k in ("LOCAL_SLURM_CPUS", "LOCAL_SLURM_PARTITION", "LOCAL_SLURM_CLUSTER",
                                   "LOCAL_SLURM_KILLWAIT", "LOCAL_SLURM_MIN_JOB_AGE", "LOCAL_SLURM_CRED_EXPIRE")
            if k in before}
    _start_cluster({**keep, "LOCAL_SLURM_MAX_ARRAY_SIZE": max_array_size})
    try:
        yield
    finally:
        _start_cluster({**keep, "LOCAL_SLURM_MAX_ARRAY_SIZE": before.get("LOCAL_SLURM_MAX_ARRAY_SIZE", 10001)})


# Tests of several files run at once (pytest-xdist, --dist loadfile). A test that restarts the
# cluster must not pull it from under the others: every Slurm test holds a shared lock while it
# runs, a restart takes it exclusively, and a gate file keeps new tests from starting meanwhile:
# one per restarting process (test sessions of other checkouts may restart at the same time), so
# that the first restart to end does not open the gate while another still waits.
LOCK = Path(tempfile.gettempdir()) / "hydraflow-slurm-tests.lock"
GATE = LOCK.with_suffix(".restart")  # GATE and GATE.<pid> files


def _gated() -> bool:
    """Whether a live process has a gate up (a gate left by a killed session is ignored)."""
    for gate in LOCK.parent.glob(GATE.name + "*"):
        try:
            pid = gate.read_text().strip()
            if pid.isdigit():
                os.kill(int(pid), 0)
        except (ProcessLookupError, FileNotFoundError):
            continue
        except OSError:  # alive, another user's
            pass
        return True  # a live pid, or a gate being written this moment
    return False


@pytest.fixture(autouse=True)
def _cluster_shared(request):
    if ALONE_FIXTURES & set(request.fixturenames):
        yield
        return
    deadline = time.monotonic() + 300
    while _gated() and time.monotonic() < deadline:  # a restart waits or runs: start after it
        time.sleep(0.2)
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


#: The fixtures that hand out _cluster_alone: their tests are marked slurm_alone (run first, on one worker).
ALONE_FIXTURES = {"slurm_restart", "site_limits"}


@contextlib.contextmanager
def _cluster_alone():
    gate = GATE.with_name(f"{GATE.name}.{os.getpid()}")
    gate.write_text(str(os.getpid()))
    try:
        with open(LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # every running Slurm test has ended
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        with contextlib.suppress(OSError):
            gate.unlink()


@pytest.fixture
def slurm_restart(slurm_cluster):
    """``restarted_cluster``, for a test that may restart the cluster (needs root and our start script);
    no other Slurm test runs while it does."""
    if os.geteuid() != 0:
        _unusable("restarting the Slurm cluster needs root")
    if not cluster_settings():
        _unusable(f"{NO_CLUSTER} (this one was not started by it: no {STATE_DIR / 'env'})")

    @contextlib.contextmanager
    def alone(max_array_size: int):
        with _cluster_alone(), restarted_cluster(max_array_size):
            yield

    return alone


@pytest.fixture
def site_limits(slurm_cluster):
    """``site_limits("MaxSubmitJobs=50 MaxJobs=4")``: run the block with these per-user limits enforced
    (start-cluster.sh's LOCAL_SLURM_SITE_LIMITS: sacctmgr, no restart), cleared afterwards; no other Slurm
    test runs meanwhile (its jobs would count against them)."""
    if os.geteuid() != 0:
        _unusable("setting per-user limits on the Slurm cluster needs root")
    if not cluster_settings():
        _unusable(f"{NO_CLUSTER} (this one was not started by it: no {STATE_DIR / 'env'})")

    @contextlib.contextmanager
    def limited(limits: str):
        with _cluster_alone():  # the settings are read once no other test can change them
            keep = {k: v for k, v in cluster_settings().items() if k.startswith("LOCAL_SLURM_") and k not in (
                "LOCAL_SLURM_DIR", "LOCAL_SLURM_NODE", "LOCAL_SLURM_MEM_MB", "LOCAL_SLURM_SITE_LIMITS")}
            # Jobs left queued by earlier tests (none runs now) would count against the limits.
            _run("scancel", "-u", os.environ.get("USER") or "root")
            deadline = time.monotonic() + 60
            while _run("squeue", "-h", "-u", os.environ.get("USER") or "root", "-o", "%i").stdout.strip():
                assert time.monotonic() < deadline, "earlier tests' jobs are still queued after scancel"
                time.sleep(0.5)
            _start_cluster({**keep, "LOCAL_SLURM_SITE_LIMITS": limits})
            try:
                yield
            finally:
                _start_cluster({**keep, "LOCAL_SLURM_SITE_LIMITS": ""})

    return limited


def pytest_collection_modifyitems(config, items):
    """Every test under tests/slurm is a `slurm` test (deselect them with -m 'not slurm').

    Under pytest-xdist (`--dist loadfile`) the tests of one file run in order on one worker, but for
    those tests/conftest.py hands out on their own: the slurm_alone tests (marked here), all together
    first, and a few long ones.
    """
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents:
            item.add_marker(pytest.mark.slurm)
            if ALONE_FIXTURES & set(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.slurm_alone)
