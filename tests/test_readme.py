"""Every example in README.md is run and its output compared with what the README shows."""

from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_example_app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))


def console_blocks():
    for match in re.finditer(r"```console\n(.*?)```", README, re.S):
        command, *output = match.group(1).splitlines()
        assert command.startswith("$ "), command
        yield pytest.param(command[2:], "\n".join(output), id=command[2:60])


def normalize(text: str) -> str:
    """Mask what differs between runs: run ids (start times) and durations."""
    text = re.sub(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(-\d+)?", "<run id>", text)
    text = re.sub(r"\b\d+\.\ds\b", "<t>s", text)
    text = re.sub(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\]", "[<time>]", text, flags=re.M)
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return copy_example_app(tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("command, expected", list(console_blocks()))
def test_console_example(command, expected, app):
    argv = shlex.split(command)
    assert argv[0] in ("hydraflow", "python")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    program = HYDRAFLOW if argv[0] == "hydraflow" else sys.executable
    result = subprocess.run([program, *argv[1:]], capture_output=True, text=True, cwd=app, env=env)
    assert normalize(result.stdout + result.stderr) == normalize(expected)
    assert result.returncode == (2 if expected.startswith("hydraflow: error:") else 0)
    assert "Traceback" not in result.stderr


def test_python_examples():
    blocks = re.findall(r"```pycon\n(.*?)```", README, re.S)
    assert blocks
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for i, block in enumerate(blocks):
        runner.run(parser.get_doctest(block, {}, f"README[{i}]", "README.md", 0))
    assert runner.summarize(verbose=False).failed == 0


def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(first_block) == 2
    assert "example_app" in first_block[0]
    assert "pytest" in first_block[1]
