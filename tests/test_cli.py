"""The `hydraflow expand` command, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pytest

import hydraflow_core

HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))


def hydraflow(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([HYDRAFLOW, *args], capture_output=True, text=True, **kwargs)


@pytest.mark.parametrize(
    "args, stdout",
    [
        pytest.param(["lr=1m:2m", "model=small,large"],
                     "lr=0.001 model=small\nlr=0.001 model=large\nlr=0.002 model=small\nlr=0.002 model=large\n",
                     id="runs"),
        pytest.param(["a=1:1000", "b=1:1000", "--count"], "1000000\n", id="count"),
        pytest.param(["h=a b", "~g"], "'h=a b' '~g'\n", id="shell-quoted"),
        pytest.param(["a=1:3000", "--max-values", "3000", "--count"], "3000\n", id="max-values"),
        pytest.param(["--", "a=-1:0"], "a=-1\na=0\n", id="double-dash"),
    ],
)
def test_expand_prints_runs(args, stdout):
    result = hydraflow("expand", *args)
    assert (result.returncode, result.stdout, result.stderr) == (0, stdout, "")


@pytest.mark.parametrize(
    "args, first_line",
    [
        pytest.param(["model=(cnn,vit_small"], "hydraflow: error: unclosed '(' in override", id="syntax"),
        pytest.param(["a=1:2001"], "hydraflow: error: 2001 values, more than the limit of 2000 in override",
                     id="limit"),
        pytest.param([], "usage: hydraflow expand", id="no-override"),
    ],
)
def test_bad_input_exits_2_without_traceback(args, first_line):
    extra = ["--max-values", "2000"] if args else []
    result = hydraflow("expand", *args, *extra)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(first_line)
    assert "Traceback" not in result.stderr


def test_output_into_a_closed_pipe_is_quiet():
    result = subprocess.run(
        f"'{HYDRAFLOW}' expand a=1:100000 | head -n 2", shell=True, capture_output=True, text=True
    )
    assert result.stdout == "a=1\na=2\n"
    assert result.stderr == ""  # not even Python's "Exception ignored ... BrokenPipeError" at exit


def test_version_and_missing_command():
    assert hydraflow("--version").stdout.strip() == f"hydraflow {hydraflow_core.__version__}"
    result = hydraflow()
    assert result.returncode == 2 and "usage: hydraflow" in result.stderr


def test_package_docstring_examples():
    result = doctest.testmod(hydraflow_core)
    assert result.attempted > 0 and result.failed == 0
