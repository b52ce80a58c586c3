"""Job files written for the original HydraFlow 0.23 (sets of each / all / add): the commands 0.23
printed for them, what they load into, every mistake with its one line, and call / submit jobs run."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hydraflow_core.cli import main
from hydraflow_core.errors import JobFileError
from hydraflow_core.jobs import load as jobfile
from hydraflow_core.jobs.model import Job, Step

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "hydraflow023"
BIN = Path(sys.executable).parent


def load(tmp_path, text: str):
    path = tmp_path / "hydraflow.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return jobfile.load(path, "hydraflow.yaml")


# --- the commands HydraFlow 0.23 printed -------------------------------------------------------------------

def printed_by_023() -> dict:
    """{job: lines}: tests/fixtures/hydraflow023/expected.txt, 0.23.1's own `hydraflow run JOB --dry-run`."""
    jobs: dict = {}
    for line in (FIXTURE / "expected.txt").read_text().splitlines():
        if line.startswith("$ hydraflow run "):
            jobs[line.split()[3]] = lines = []
        elif not line.startswith("#"):
            lines.append(line)
    return jobs


def words(line: str):
    """A command's words, or a call's function and list (`f(['a', 'b'])`)."""
    call = re.fullmatch(r"([\w.]+)\((\[.*\])\)", line)
    return [call.group(1), *ast.literal_eval(call.group(2))] if call else shlex.split(line)


def compared(lines, kind: str):
    """What may differ, and only that: the sweep dir (ours `multirun/<job>/<run id>/<batch>`, 0.23's
    `multirun/<ULID>`), hydra.job.name and hydra.sweep.dir before `add` (0.23 writes them after it), `-m`
    for a run command's `--multirun`, the submit file's path, and our lines naming it and the launcher."""
    out = []
    for line in lines:
        if line.startswith("# "):  # ours: '# batches run on ...', '# multirun/<job>/{run_id}/batches.txt:'
            continue
        found = words(line)
        generated = [w for w in found if w.startswith(("hydra.job.name=", "hydra.sweep.dir="))]
        rest = [w for w in found if w not in generated]
        if kind == "run":
            rest = ["-m" if w == "--multirun" else w for w in rest]
        if kind == "submit" and not out:  # the submit command: its last word is the file
            rest[-1] = "<file>"
        out.append([*rest, *(re.sub(r"=multirun/.*", "=<sweep dir>", w) for w in generated)])
    return out


@pytest.fixture
def fixture_dir(tmp_path, monkeypatch):
    directory = tmp_path / "hydraflow023"
    shutil.copytree(FIXTURE, directory)
    monkeypatch.chdir(directory)
    return directory


@pytest.mark.parametrize("job, lines", [pytest.param(*case, id=case[0]) for case in printed_by_023().items()])
def test_a_023_file_gives_the_commands_023_gave(job, lines, fixture_dir, capsys):
    """Merged adds (job and set), ranges in each and all, several sets, pipes, call words, submit."""
    assert main(["run", job, "--dry-run"]) == 0
    kind = jobfile.load(fixture_dir / "hydraflow.yaml").jobs[job].kind
    ours = capsys.readouterr().out.splitlines()
    assert compared(ours, kind) == compared(lines, kind)
    assert len(ours) == len(lines) + 1 + (kind == "submit")  # ours: the launcher's line, the file's


def test_every_job_of_the_fixture_has_what_023_printed():
    assert sorted(printed_by_023()) == sorted(jobfile.load(FIXTURE / "hydraflow.yaml").jobs)


def test_the_readmes_023_job_is_the_example_apps_and_the_fixtures():
    """README's example is example_app's `original` job, the fixture's first, whose commands 0.23 printed."""
    root = FIXTURE.parents[2]
    section = (root / "README.md").read_text().split("### HydraFlow 0.23's schema\n", 1)[1]
    shown = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    assert shown in (root / "example_app" / "hydraflow.yaml").read_text()
    assert shown in (FIXTURE / "hydraflow.yaml").read_text()
    example = jobfile.load(root / "example_app" / "hydraflow.yaml").jobs["original"]
    assert example == jobfile.load(FIXTURE / "hydraflow.yaml").jobs["original"]


# --- what a 0.23 job loads into ------------------------------------------------------------------------------

LOADS = [
    pytest.param(
        """
        jobs:
          t:
            run: python train.py
            add: a=1 b=2
            sets:
              - each: m=x,y
                all: lr=1:3
              - all: c=1
                add: b=3
              - each: m=z
        """,
        Job("t", "run", "python train.py", with_=("a=1", "b=2"), schema="sets", steps=(
            Step(batch=("m=x,y",), args=("lr=1:3",)), Step(args=("c=1",), with_=("b=3",)), Step(batch=("m=z",)))),
        id="every-set-its-own-step-never-merged",
    ),
    pytest.param("jobs:\n  t:\n    run: x\n    add: a=1\n", Job("t", "run", "x", with_=("a=1",), schema="sets"),
                 id="job-add-alone-runs-once"),
    pytest.param("jobs:\n  t:\n    run: x\n    sets: []\n", Job("t", "run", "x", schema="sets"),
                 id="no-set-runs-once"),
    pytest.param("jobs:\n  t:\n    run: x\n    sets:\n      - {}\n", Job("t", "run", "x", schema="sets"),
                 id="an-empty-set-is-one-batch"),
    pytest.param(
        "jobs:\n  t:\n    call: pkg.fn a 'b c'\n    sets:\n      - each: m=x\n",
        Job("t", "call", "pkg.fn", steps=(Step(batch=("m=x",)),), lead=("a", "b c", "--multirun"), schema="sets"),
        id="call-words-then-multirun",
    ),
    pytest.param(
        "jobs:\n  t:\n    submit: python submit.py\n    max_parallel: 2\n    sets:\n      - each: [m=x, n=1]\n",
        Job("t", "submit", "python submit.py", max_parallel=2, steps=(Step(batch=("m=x", "n=1")),),
            lead=("--multirun",), schema="sets"),
        id="submit-lines-start-with-multirun-our-keys-of-both-schemas",
    ),
    pytest.param("jobs:\n  t:\n    call: pkg.fn\n", Job("t", "call", "pkg.fn"), id="no-schema-key-is-ours"),
]


@pytest.mark.parametrize("text, job", LOADS)
def test_loads(tmp_path, text, job):
    assert load(tmp_path, text).jobs == {job.name: job}


OURS_VALID = "valid keys: run, call, submit, with, max_parallel, timeout_min, steps, slurm"
THEIRS_VALID = "valid keys: run, call, submit, add, max_parallel, timeout_min, sets, slurm"

BROKEN = [
    pytest.param(
        "jobs:\n  t:\n    run: x\n    steps:\n      - batch: a=1\n    sets:\n      - each: a=2\n    add: b=1\n",
        ["hydraflow.yaml:6: jobs.t.sets: 'sets' is HydraFlow 0.23's schema, and this job is in hydraflow's "
         "('steps', line 4); a job uses one: write each set as a step (each -> batch, all -> args, add -> with)"],
        id="steps-and-sets-one-line",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    add: a=1\n    with: b=1\n",
        ["hydraflow.yaml:5: jobs.t.with: 'with' is hydraflow's schema, and this job is in HydraFlow 0.23's "
         "('add', line 4); a job uses one: write 'add'"],
        id="add-then-with",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    sets:\n      - each: a=1\n        batch: b=1\n        add: c=1\n",
        ["hydraflow.yaml:6: jobs.t.sets[0].batch: 'batch' is hydraflow's schema, and this job is in "
         "HydraFlow 0.23's ('sets', line 4); a job uses one: write 'each'"],
        id="batch-with-add-in-one-set",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    sets:\n      - zip: a=1,2 b=3,4\n",
        ["hydraflow.yaml:5: jobs.t.sets[0].zip: 'zip' is hydraflow's schema, and this job is in HydraFlow 0.23's "
         "('sets', line 4); a job uses one: a set has none; write the job with steps "
         "(each -> batch, all -> args, add -> with)"],
        id="zip-in-a-set",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    with: s=1\n    steps:\n      - batch: a=1\n      - all: b=1\n",
        ["hydraflow.yaml:7: jobs.t.steps[1].all: 'all' is HydraFlow 0.23's schema, and this job is in "
         "hydraflow's ('with', line 4); a job uses one: write 'args'"],
        id="all-in-a-step",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    sets:\n      - eahc: a=1\n        al: b=1\n",
        ["hydraflow.yaml:5: jobs.t.sets[0].eahc: unknown key (did you mean 'each'?); valid keys: each, all, add",
         "hydraflow.yaml:6: jobs.t.sets[0].al: unknown key (did you mean 'all'?); valid keys: each, all, add"],
        id="typos-in-a-set-suggest-its-keys",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    set:\n      - each: a=1\n  u:\n    run: x\n    step:\n      - batch: a=1\n",
        [f"hydraflow.yaml:4: jobs.t.set: unknown key (did you mean 'sets'?); {THEIRS_VALID}",
         f"hydraflow.yaml:8: jobs.u.step: unknown key (did you mean 'steps'?); {OURS_VALID}"],
        id="a-typo-before-any-schema-key-suggests-from-both",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    sets: []\n    ad: a=1\n    stes: []\n",
        [f"hydraflow.yaml:5: jobs.t.ad: unknown key (did you mean 'add'?); {THEIRS_VALID}",
         f"hydraflow.yaml:6: jobs.t.stes: unknown key (did you mean 'sets'?); {THEIRS_VALID}"],
        id="typos-in-a-023-job",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    sets:\n      - each: a=1,2\n        all: b=1\n        add: a=3\n",
        ["hydraflow.yaml:7: jobs.t.sets[0].add: 'a' is set by the batch grid and again by add (a=3); "
         "set it in one place"],
        id="each-key-set-again-by-add",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    add: a=1\n    sets:\n      - each: a=1,2\n",
        ["hydraflow.yaml:4: jobs.t.add: 'a' is set by the batch grid and again by add (a=1); set it in one place"],
        id="each-key-set-again-by-the-jobs-add",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    sets:\n      - each: a=1,2\n        add: hydra.sweep.dir=out\n",
        ["hydraflow.yaml:6: jobs.t.sets[0].add: hydra.sweep.dir is set for all 2 batches, which would "
         "overwrite each other's outputs; leave it out (every batch gets its own)"],
        id="one-sweep-dir-for-several-batches",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    add: >-\n      a=1\n      --config-name=other\n",
        ["hydraflow.yaml:6: jobs.t.add: '--config-name=other' is a Hydra flag, not an override: give it in the "
         "command (run: python train.py --config-name=other)"],
        id="hydra-flag-in-add",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n    sets:\n      - all: a=1|2\n      - each: b=(1\n",
        ["hydraflow.yaml:5: jobs.t.sets[0].all: 'a' has a '|', which Hydra cannot sweep inside one batch; "
         "move it from all to each",
         "hydraflow.yaml:6: jobs.t.sets[1].each: unclosed '(' in override\n    b=(1\n      ^\n"
         "hint: close the group with ')'"],
        id="pipe-in-all-bad-each",
    ),
    pytest.param(
        "jobs:\n  t:\n    call: 'not-a.function x'\n    sets: every\n",
        ["hydraflow.yaml:3: jobs.t.call: expected module.function, e.g. launch.sweep",
         "hydraflow.yaml:4: jobs.t.sets: expected a list of sets, got 'every'"],
        id="bad-call-sets-not-a-list",
    ),
]


@pytest.mark.parametrize("text, problems", BROKEN)
def test_broken(tmp_path, text, problems):
    with pytest.raises(JobFileError) as info:
        load(tmp_path, text)
    assert info.value.problems == problems


def test_show_prints_a_023_job_in_its_own_schema(fixture_dir, capsys):
    assert main(["show", "called"]) == 0
    assert capsys.readouterr().out == (
        "jobs:\n  called:\n    call: launch.sweep extra --flag\n    add: seed=2\n    sets:\n"
        "    - each: model=a,b\n      all: lr=1:2\n")
    assert main(["run"]) == 0
    assert "\n  called     call    2 batches   launch.sweep extra --flag\n" in capsys.readouterr().out


def test_what_show_prints_loads_back_into_the_same_jobs(fixture_dir, capsys, tmp_path):
    assert main(["show"]) == 0
    (tmp_path / "shown.yaml").write_text(capsys.readouterr().out)
    assert jobfile.load(tmp_path / "shown.yaml").jobs == jobfile.load(fixture_dir / "hydraflow.yaml").jobs


# --- call and submit jobs, run: what 0.23 handed them -------------------------------------------------------

def _run(directory: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(directory)}
    return subprocess.run([str(BIN / "hydraflow"), *args], cwd=directory, env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_call_function_gets_its_words_and_multirun_also_on_retry(tmp_path):
    (tmp_path / "record.py").write_text(textwrap.dedent("""
        import json, pathlib

        def fn(args):
            seen = pathlib.Path("seen.jsonl")
            with seen.open("a") as out:
                out.write(json.dumps(args) + "\\n")
            if not pathlib.Path("ok").exists():
                raise RuntimeError("not yet")
    """))
    (tmp_path / "hydraflow.yaml").write_text("jobs:\n  t:\n    call: record.fn a 'b c'\n    add: x=1\n"
                                             "    sets:\n      - each: m=1\n")
    result = _run(tmp_path, "run", "t")
    assert result.returncode == 1, result.stdout + result.stderr
    (tmp_path / "ok").touch()
    (run_dir,) = (tmp_path / "multirun" / "t").iterdir()
    result = _run(tmp_path, "retry", str(run_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    import json

    calls = [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]
    expected = ["a", "b c", "--multirun", "m=1", "x=1", "hydra.job.name=t",
                f"hydra.sweep.dir=multirun/t/{run_dir.name}/0-m-1"]
    assert calls == [expected, expected]


def test_a_submit_handler_written_for_023_runs_the_batches(tmp_path):
    """0.23's own example handler: `python APP LINE...` for each line of the file, so each line holds --multirun."""
    from conftest import copy_example_app

    app = copy_example_app(tmp_path)
    (app / "submit.py").write_text(textwrap.dedent("""
        import shlex, subprocess, sys
        from pathlib import Path

        app_file, opt_file = sys.argv[1:]
        for line in Path(opt_file).read_text(encoding="utf-8").splitlines():
            subprocess.run([sys.executable, app_file, *shlex.split(line)], check=True)
    """))
    (app / "hydraflow.yaml").write_text("jobs:\n  s:\n    submit: python submit.py train.py\n"
                                        "    sets:\n      - each: model=small,large\n        all: seed=1,2\n")
    result = _run(app, "run", "s")
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (app / "multirun" / "s").iterdir()
    runs = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.glob("*/[0-9]/.hydra/overrides.yaml"))
    assert runs == [f"{batch}/{i}/.hydra/overrides.yaml" for batch in ("0-model-small", "1-model-large")
                    for i in (0, 1)]
