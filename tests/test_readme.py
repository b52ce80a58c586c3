"""Every example in README.md is run and its output compared with what the README shows."""

from __future__ import annotations

import doctest
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_example_app

# The console examples build on each other (a sweep, then its status): the README's test command
# runs a file's tests in order on one worker (pytest-xdist --dist loadfile).
ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))
TOC = "\n## Contents\n"
# The first screen (from the top to the table of contents) walks a newcomer through
# an app of their own: its examples run in a directory holding only the files it shows.
FIRST_SCREEN, REFERENCE = README.split(TOC, 1)
FIRST_SCREEN_LINES = 150


def console_blocks():
    for part, text in (("first screen", FIRST_SCREEN), ("reference", REFERENCE)):
        for match in re.finditer(r"```console\n(.*?)```", text, re.S):
            command, *output = match.group(1).splitlines()
            assert command.startswith("$ "), command
            yield pytest.param(part, command[2:], "\n".join(output), id=f"{part}: {command[2:60]}")


def first_screen_files() -> dict:
    """The files the first screen shows: code blocks whose first line is `# NAME`."""
    blocks = re.findall(r"```(?:python|yaml)\n# ([\w.]+)\n(.*?)```", FIRST_SCREEN, re.S)
    return dict(blocks)


def normalize(text: str) -> str:
    """Mask what differs between runs: run ids (start times) and durations."""
    text = re.sub(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(-\d+)?", "<run id>", text)
    text = re.sub(r"\b\d+\.\ds\b", "<t>s", text)
    text = re.sub(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\]", "[<time>]", text, flags=re.M)
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return copy_example_app(tmp_path_factory.mktemp("readme"))


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    directory = tmp_path_factory.mktemp("own_app")
    for name, text in first_screen_files().items():
        (directory / name).write_text(text)
    return directory


@pytest.mark.parametrize("part, command, expected", list(console_blocks()))
def test_console_example(part, command, expected, request):
    cwd = request.getfixturevalue("own_app" if part == "first screen" else "app")
    argv = shlex.split(command)
    assert argv[0] in ("hydraflow", "python")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    program = HYDRAFLOW if argv[0] == "hydraflow" else sys.executable
    result = subprocess.run([program, *argv[1:]], capture_output=True, text=True, cwd=cwd, env=env)
    assert normalize(result.stdout + result.stderr) == normalize(expected)
    assert result.returncode == (2 if expected.startswith("hydraflow: error:") else 0)
    assert "Traceback" not in result.stderr


def inline_sweep_examples() -> list:
    """The `hydraflow sweep -- python train.py ...` commands the README's prose quotes (outside code blocks)."""
    prose = re.sub(r"^```.*?^```", "", README, flags=re.S | re.M)
    found = re.findall(r"`(hydraflow\s+sweep\s+--\s+python\s+train\.py[^`]*)`", prose)
    return sorted({" ".join(command.split()) for command in found})


def test_inline_sweep_examples_run_on_a_typed_app(tmp_path):
    """Each runs, on an app with a dataclass config (lr: float, batch_size: int), every run it expands to."""
    examples = inline_sweep_examples()
    assert len(examples) >= 2, examples
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for index, command in enumerate(examples):
        app = tmp_path / str(index)
        app.mkdir()
        shutil.copy(ROOT / "tests" / "fixtures" / "typed_app" / "train.py", app / "train.py")
        argv = shlex.split(command)
        expected = subprocess.run([HYDRAFLOW, "expand", *argv[5:], "--count"], capture_output=True, text=True)
        result = subprocess.run([HYDRAFLOW, *argv[1:], "hydra.sweep.dir=sweep"], capture_output=True, text=True,
                                cwd=app, env=env)
        assert result.returncode == 0, (command, result.stderr)
        status = subprocess.run([HYDRAFLOW, "status", "sweep", "--json"], capture_output=True, text=True, cwd=app)
        assert json.loads(status.stdout)["counts"] == {"completed": int(expected.stdout)}, command


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


def test_first_screen_is_short_and_runs_an_app_of_your_own():
    lines = FIRST_SCREEN.count("\n") + 1
    assert lines <= FIRST_SCREEN_LINES, f"the first screen has {lines} lines"
    assert set(first_screen_files()) == {"train.py", "config.yaml", "hydraflow.yaml"}
    for needed in ("pip install hydraflow-launcher", "pip install .", "pip install hydraflow`",
                   "hydra/launcher=hydraflow ", "hydraflow run train", "hydra/launcher=hydraflow_slurm",
                   "hydraflow status", "hydraflow retry", "typed-config rule", "original HydraFlow"):
        assert needed in FIRST_SCREEN, needed


def test_points_at_nothing_outside_the_repository():
    texts = {"README.md": README}
    texts.update((str(path.relative_to(ROOT)), path.read_text())
                 for path in sorted((ROOT / "example_app").rglob("*"))
                 if path.is_file() and not {"__pycache__", "multirun", "outputs"} & set(path.parts))
    for name, text in texts.items():
        assert "../shared" not in text, name
        assert not re.search(r"\bSPEC\b", text), name


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_inside_the_readme_has_its_heading():
    without_code = re.sub(r"^```.*?^```", "", README, flags=re.S | re.M)
    headings = re.findall(r"^#{1,6} (.+)$", without_code, re.M)
    anchors = [anchor(heading) for heading in headings]
    assert len(anchors) == len(set(anchors)), "two headings share an anchor"
    links = re.findall(r"\]\(#([^)]+)\)", without_code)
    assert links
    assert sorted(set(links) - set(anchors)) == []
    toc = re.search(r"^## Contents\n(.*?)^## ", README, re.S | re.M).group(1)
    in_toc = re.findall(r"\]\(#([^)]+)\)", toc)
    top_level = [anchor(h) for h in re.findall(r"^## (.+)$", REFERENCE, re.M)]
    assert set(top_level) <= set(in_toc), "every reference section is in the table of contents"
