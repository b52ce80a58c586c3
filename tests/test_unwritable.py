"""A sweep directory that cannot be written (a read-only filesystem, a file in its path) is one line naming it
and why, exit code 2, no traceback, nothing run: through every front end (README: Failures and errors)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
HYDRAFLOW = str(BIN / "hydraflow")
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # `python` in a job's `run:`
ENV.pop("HYDRAFLOW_REPLAY", None)
READ_ONLY = "Read-only file system"


def _cannot_mount(reason: str) -> None:
    """Skip where mounting is not permitted; in CI (root, HYDRAFLOW_REQUIRE_SLURM=1 or CI set) fail."""
    if os.environ.get("HYDRAFLOW_REQUIRE_SLURM") == "1" or os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} [CI must run this test]", pytrace=False)
    pytest.skip(reason)


def _mount(*args: str) -> None:
    if shutil.which("mount") is None or os.geteuid() != 0:
        _cannot_mount("needs root and mount(8) for a read-only filesystem")
    made = subprocess.run(["mount", *args], capture_output=True, text=True)
    if made.returncode != 0:
        _cannot_mount(f"cannot mount here: {made.stderr.strip()}")


def _unmount(where: Path) -> None:
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def read_only(tmp_path):
    """tmp_path/ro: an empty read-only filesystem (always unmounted)."""
    where = tmp_path / "ro"
    where.mkdir()
    _mount("-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(where))
    try:
        yield where
    finally:
        _unmount(where)


@pytest.fixture
def app(tmp_path):
    from conftest import copy_example_app

    return copy_example_app(tmp_path)


PLUGIN = [sys.executable, "train.py", "-m", "seed=0,1"]


@pytest.mark.parametrize("argv", [
    pytest.param(PLUGIN, id="hydraflow-launcher-and-sweeper"),
    pytest.param([*PLUGIN, "hydra/sweeper=basic"], id="hydras-basic-sweeper"),  # Hydra's own writes: the callback
    pytest.param([*PLUGIN, "hydra/sweeper=hydraflow", "hydra/launcher=basic"], id="hydraflow-sweeper-basic-launcher"),
    pytest.param([HYDRAFLOW, "sweep", "--", sys.executable, "train.py", "seed=0:1"], id="hydraflow-sweep"),
])
@pytest.mark.parametrize("where, reason", [
    pytest.param("read_only", READ_ONLY, id="read-only"),
    pytest.param("a_file", "a part of its path is a file", id="a-file-in-its-path"),
])
def test_a_sweep_directory_that_cannot_be_written_is_one_line(app, request, argv, where, reason):
    if where == "read_only":
        sweep = request.getfixturevalue("read_only") / "sweep"
    else:
        (app / "blocker").write_text("")
        sweep = app / "blocker" / "sweep"
    result = subprocess.run([*argv, f"hydra.sweep.dir={sweep}"], cwd=app, env=ENV, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("hydraflow: error:")]
    assert said and said[0].startswith(f"hydraflow: error: cannot write the sweep directory {sweep}: {reason}"), \
        result.stderr
    assert "Traceback" not in result.stderr
    assert not (app / "multirun").exists() and not list(app.glob("**/result.json"))


def test_retry_and_run_name_the_directory(app, tmp_path):
    """`hydraflow retry` on a sweep directory mounted read-only, `hydraflow run` in a read-only app directory."""
    sweep = tmp_path / "sweep"
    subprocess.run([*PLUGIN[:3], "fail=false,true", f"hydra.sweep.dir={sweep}"], cwd=app, env=ENV,
                   capture_output=True, timeout=300)
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    _mount("--bind", "-o", "ro", str(sweep), str(frozen))
    try:
        retried = subprocess.run([HYDRAFLOW, "retry", str(frozen)], cwd=app, env=ENV, capture_output=True, text=True)
    finally:
        _unmount(frozen)
    assert (retried.returncode, retried.stderr.splitlines()[0]) == (
        2, f"hydraflow: error: cannot write the sweep directory {frozen}: {READ_ONLY} "
           f"({frozen}/.hydraflow/claim.json)"), retried.stderr
    _mount("--bind", "-o", "ro", str(app), str(app))
    try:
        run = subprocess.run([HYDRAFLOW, "run", "train"], cwd=app, env=ENV, capture_output=True, text=True)
    finally:
        _unmount(app)
    assert (run.returncode, run.stderr) == (2, f"hydraflow: error: cannot write {app}: {READ_ONLY} "
                                               f"({app}/multirun)\n")


@pytest.mark.parametrize("make, expected", [
    pytest.param(lambda root: root / "new" / "sweep", None, id="missing-and-writable-nothing-created"),
    pytest.param(lambda root: _file(root / "taken"), "cannot write the sweep directory {root}/taken: it is a file",
                 id="a-file-itself"),
    pytest.param(lambda root: _file(root / "f") / "sweep",
                 "cannot write the sweep directory {root}/f/sweep: a part of its path is a file ({root}/f)",
                 id="a-file-in-its-path"),
])
def test_check_writable(tmp_path, make, expected):
    from hydraflow_core.cli.writable import check_writable

    directory = make(tmp_path)
    assert check_writable(directory) == (expected.format(root=tmp_path) if expected else None)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("error, expected", [
    pytest.param(OSError(30, "Read-only file system", "/d/sweep/multirun.yaml"),
                 "cannot write the sweep directory /d/sweep: Read-only file system (/d/sweep/multirun.yaml)",
                 id="read-only"),
    pytest.param(PermissionError(13, "Permission denied", "/d/sweep"),
                 "cannot write the sweep directory /d/sweep: Permission denied", id="permission"),
    pytest.param(OSError(28, "No space left on device", "/d/sweep/x"), None, id="full-disk-is-the-machines"),
    pytest.param(PermissionError(1, "Operation not permitted"), None, id="no-file-named"),
    pytest.param(ValueError("x"), None, id="not-an-os-error"),
])
def test_cannot_write(error, expected):
    from hydraflow_core.cli.writable import cannot_write

    assert cannot_write(error, "/d/sweep") == expected


def _file(path: Path) -> Path:
    path.write_text("")
    return path
