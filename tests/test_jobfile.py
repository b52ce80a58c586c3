"""hydraflow.yaml: what loads into which job definitions, and every broken file
with its exact message (FILE:LINE: dotted.key: message), all problems at once."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hydraflow_core.jobs import load as jobfile
from hydraflow_core.errors import JobFileError, UsageError
from hydraflow_core.jobs.model import Job, Step


def load(tmp_path, text: str):
    path = tmp_path / "hydraflow.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return jobfile.load(path, "hydraflow.yaml")


VALID = [
    pytest.param(
        """
        jobs:
          train:
            run: python train.py
            steps:
              - batch: >-
                  model=small,large
                  learning_rate=0.1,0.2
              - args: optimizer=adam,sgd
        """,
        Job("train", "run", "python train.py", steps=(
            Step(batch=("model=small,large", "learning_rate=0.1,0.2"), args=("optimizer=adam,sgd",)),)),
        id="seed-example-item-without-batch-merged",
    ),
    pytest.param(
        """
        jobs:
          j:
            call: pkg.mod.fn
            with: [seed=1, "hydra.job.chdir=true"]
            max_parallel: 3
        """,
        Job("j", "call", "pkg.mod.fn", with_=("seed=1", "hydra.job.chdir=true"), max_parallel=3),
        id="call-with-list-max-parallel-no-steps",
    ),
    pytest.param(
        """
        jobs:
          j:
            submit: sbatch job.sh
            steps:
              - batch: a=1:30
              - zip: b=1,2 c=x,y
                with: "d='two words'"
        """,
        Job("j", "submit", "sbatch job.sh", steps=(
            Step(batch=("a=1:30",)), Step(zip=("b=1,2", "c=x,y"), with_=("d=two words",)))),
        id="yaml-base-60-stays-text-zip-starts-a-step-shell-words",
    ),
    pytest.param(
        """
        jobs:
          j:
            run: ./go
            steps:
        """,
        Job("j", "run", "./go"),
        id="empty-steps",
    ),
    pytest.param("jobs:\n  j:\n    run: ./go\n    timeout_min: 0.5\n", Job("j", "run", "./go", timeout_min=0.5),
                 id="timeout-min"),
    pytest.param("jobs:\n  j:\n    run: ./go\n    timeout_min: 90\n", Job("j", "run", "./go", timeout_min=90.0),
                 id="timeout-min-whole"),
    pytest.param("jobs:\n  j:\n    run: ./go\n    timeout_min: null\n", Job("j", "run", "./go"),
                 id="timeout-min-null-no-limit"),
]


@pytest.mark.parametrize("text, job", VALID)
def test_loads(tmp_path, text, job):
    loaded = load(tmp_path, text)
    assert loaded.jobs == {job.name: job}


BROKEN = [
    pytest.param("jobs:\n  t:\n    run: python train.py\n    slurm:\n      partion: gpu\n      nodes: 0\n", [
        "hydraflow.yaml:5: jobs.t.slurm.partion: unknown field (did you mean 'partition'?); valid fields: "
        + ", ".join(sorted(__import__("hydraflow_core.executors.slurm.fields", fromlist=["FIELDS"]).FIELDS)),
        "hydraflow.yaml:6: jobs.t.slurm.nodes: slurm.nodes must be a whole number of at least 1, not 0",
    ], id="bad-slurm-fields"),
    pytest.param("jobs:\n  t:\n    run: python train.py\n    steps:\n      - batch: a=1,2\n        slurm: gpu\n", [
        "hydraflow.yaml:6: jobs.t.steps[0].slurm: expected a mapping of Slurm settings (partition: ..., "
        "cpus_per_task: ...), got 'gpu'",
    ], id="step-slurm-not-a-mapping"),
    pytest.param("jobs:\n  t:\n    call: launch.sweep\n    slurm:\n      nodes: 1\n", [
        "hydraflow.yaml:3: jobs.t.slurm: slurm: sends the batches of a 'run:' job to Slurm; this job has 'call:'",
    ], id="slurm-on-a-call-job"),
    *[pytest.param(f"jobs:\n  t:\n    run: ./go\n    timeout_min: {value}\n", [
        f"hydraflow.yaml:4: jobs.t.timeout_min: expected a positive number of minutes (e.g. 30 or 0.5), got {shown}"],
        id=f"timeout-min-{id_}") for value, shown, id_ in (
            ("0", "0", "zero"), ("-1", "-1", "negative"), ("'5'", "'5'", "quoted"), ("5m", "'5m'", "unit"),
            ("true", "true", "bool"), ("[1]", "a list", "list"))],
    pytest.param("jobs:\n  t:\n    call: launch.sweep\n    timeout_min: 5\n", [
        "hydraflow.yaml:4: jobs.t.timeout_min: timeout_min limits the batches a 'run:' job runs on this machine; "
        "this job has 'call:'"], id="timeout-min-on-a-call-job"),
    pytest.param("jobs:\n  t:\n    run: ./go\n    timeout_min: 5\n    slurm:\n      nodes: 1\n", [
        "hydraflow.yaml:4: jobs.t.timeout_min: timeout_min limits the batches a 'run:' job runs on this machine; "
        "on Slurm a batch's limit is its slurm: timeout_min"], id="timeout-min-on-slurm"),
    pytest.param("", ["hydraflow.yaml:1: the file is empty; it needs a 'jobs:' mapping"], id="empty-file"),
    pytest.param("# only a comment\n", ["hydraflow.yaml:1: the file is empty; it needs a 'jobs:' mapping"],
                 id="only-comments"),
    pytest.param("jobs: [\n", ["hydraflow.yaml:2:1: invalid YAML: expected the node content, but found '<stream end>'"],
                 id="bad-yaml"),
    pytest.param("- a\n", ["hydraflow.yaml:1: (top level): expected a mapping, got a list"], id="top-level-list"),
    pytest.param("job:\n  x: 1\n", [
        "hydraflow.yaml:1: job: unknown key (did you mean 'jobs'?); valid keys: jobs",
        "hydraflow.yaml:1: jobs: missing: the file needs a 'jobs:' mapping",
    ], id="top-level-typo"),
    pytest.param("jobs:\n", ["hydraflow.yaml:1: jobs: expected a mapping, got nothing"], id="jobs-empty"),
    pytest.param(
        """
        jobs:
          train:
            steps: []
        """,
        ["hydraflow.yaml:2: jobs.train: needs one of run, call or submit"],
        id="no-kind",
    ),
    pytest.param(
        """
        jobs:
          train:
            run: python train.py
            submit: sbatch x
        """,
        ["hydraflow.yaml:2: jobs.train: has run and submit; give exactly one of run, call or submit"],
        id="two-kinds",
    ),
    pytest.param(
        """
        jobs:
          train:
            run: python train.py
            step:
              - batch: a=1,2
            max_paralel: 2
        """,
        [
            "hydraflow.yaml:4: jobs.train.step: unknown key (did you mean 'steps'?); "
            "valid keys: run, call, submit, with, max_parallel, timeout_min, steps, slurm",
            "hydraflow.yaml:6: jobs.train.max_paralel: unknown key (did you mean 'max_parallel'?); "
            "valid keys: run, call, submit, with, max_parallel, timeout_min, steps, slurm",
        ],
        id="unknown-job-keys-all-reported",
    ),
    pytest.param(
        """
        jobs:
          train:
            run: python train.py
            steps:
              - batch: a=1,2
                arg: b=1
              - batch: c=(1,2
        """,
        [
            "hydraflow.yaml:6: jobs.train.steps[0].arg: unknown key (did you mean 'args'?); "
            "valid keys: batch, zip, args, with, slurm",
            "hydraflow.yaml:7: jobs.train.steps[1].batch: unclosed '(' in override\n"
            "    c=(1,2\n"
            "      ^\n"
            "hint: close the group with ')'",
        ],
        id="unknown-step-key-and-bad-syntax",
    ),
    pytest.param(
        """
        jobs:
          train:
            run: python train.py
            steps:
              - batch: >-
                  model=small,large
                  lr=1:3tep
        """,
        [
            "hydraflow.yaml:7: jobs.train.steps[0].batch: range stop '3tep' is not a number in override\n"
            "    lr=1:3tep\n"
            "         ^\n"
            "hint: a range is START:STOP[:STEP][:S], e.g. 1:5, 0:1:0.25, 1m:5m, 1:1000:*10, 0:1:#5, 1:3:k; "
            "to pass text with ':', quote it or escape each colon as '\\:'",
        ],
        id="bad-range-in-folded-batch-line-of-the-override",
    ),
    pytest.param(
        """
        jobs:
          train:
            run: python train.py
            max_parallel: 0
            with: 5
            steps:
              - zip: a=1,2 b=1:3
              - args: c=1|2
        """,
        [
            "hydraflow.yaml:4: jobs.train.max_parallel: expected a whole number of at least 1, got 0",
            "hydraflow.yaml:5: jobs.train.with: '5' is not KEY=VALUE",
            "hydraflow.yaml:7: jobs.train.steps[0].zip: zip needs lists of one length: a has 2, b has 3",
            "hydraflow.yaml:8: jobs.train.steps[1].args: 'c' has a '|', which Hydra cannot sweep inside "
            "one batch; move it from args to batch",
        ],
        id="bad-max-parallel-with-zip-lengths-pipe-in-args",
    ),
    pytest.param(
        """
        jobs:
          train:
            call: not a function
          other:
            run: "python 'unclosed"
        """,
        [
            "hydraflow.yaml:3: jobs.train.call: expected module.function, e.g. launch.sweep",
            "hydraflow.yaml:5: jobs.other.run: No closing quotation in: python 'unclosed",
        ],
        id="bad-call-target-and-unclosed-quote",
    ),
    pytest.param(
        """
        jobs:
          train:
            run: python train.py
            steps:
              - batch: a=1
              - args: b=1
              - args: b=2
        """,
        ["hydraflow.yaml:7: jobs.train.steps[2].args: the step already has 'args' (from "
         "jobs.train.steps[1]); a list item without 'batch' or 'zip' is merged into the one before it"],
        id="merged-item-repeats-a-key",
    ),
    pytest.param(
        """
        jobs:
          train:
            run: python train.py
          train:
            run: python other.py
          "bad name":
            run: x
        """,
        [
            "hydraflow.yaml:4: jobs.train: repeated key (the first is on line 2)",
            "hydraflow.yaml:6: jobs.bad name: a job name uses letters, digits, '_', '.' and '-'",
        ],
        id="repeated-job-and-bad-name",
    ),
    pytest.param(
        """
        jobs:
          train:
            runn: python train.py
            steps:
              - batch: a=(1
                arg: b=1
          empty:
            run: ""
          notmap:
        """,
        [
            "hydraflow.yaml:2: jobs.train: needs one of run, call or submit",
            "hydraflow.yaml:3: jobs.train.runn: unknown key (did you mean 'run'?); "
            "valid keys: run, call, submit, with, max_parallel, timeout_min, steps, slurm",
            "hydraflow.yaml:5: jobs.train.steps[0].batch: unclosed '(' in override\n"
            "    a=(1\n      ^\nhint: close the group with ')'",
            "hydraflow.yaml:6: jobs.train.steps[0].arg: unknown key (did you mean 'args'?); "
            "valid keys: batch, zip, args, with, slurm",
            "hydraflow.yaml:8: jobs.empty.run: empty command",
            "hydraflow.yaml:9: jobs.notmap: expected a mapping with run, call or submit, got nothing",
        ],
        id="every-problem-of-a-broken-job-empty-command-non-mapping-job",
    ),
    pytest.param(
        """
        jobs:
          train:
            run: python train.py
            with: [seed=1, "y=(1"]
            steps:
              - batch:
                  - a=1,2
                  - b=(1
        """,
        [
            "hydraflow.yaml:4: jobs.train.with: Hydra cannot parse 'y=(1': "
            "extraneous input '(' expecting {<EOF>, ':', BRACKET_OPEN, BRACE_OPEN, FLOAT, INT, BOOL, NULL, "
            "UNQUOTED_CHAR, ID, ESC, WS, QUOTED_VALUE, INTERPOLATION}",
            "hydraflow.yaml:8: jobs.train.steps[0].batch: unclosed '(' in override\n"
            "    b=(1\n      ^\nhint: close the group with ')'",
        ],
        id="with-checked-by-hydra-and-line-of-a-list-item",
    ),
    # --- the bad-input corpus: each one message, FILE:LINE: dotted key ---------
    pytest.param(
        "jobs:\n  t:\n    run: python train.py\n    steps:\n      - batch: a=1,2|b=3\n        args: b=5\n",
        ["hydraflow.yaml:6: jobs.t.steps[0].args: 'b' is set by the batch grid and again by args (b=5); "
         "set it in one place"],
        id="key-of-a-pipe-section-set-again-by-args",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: python train.py\n    steps:\n      - batch: a=1,2\n        args: >-\n"
        "          x=1\n          +a=3\n",
        ["hydraflow.yaml:8: jobs.t.steps[0].args: 'a' is set by the batch grid and again by args (+a=3); "
         "set it in one place"],
        id="grid-key-set-again-by-args-line-of-the-override",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: python train.py\n    with: a=5\n    steps:\n      - batch: a=1,2\n",
        ["hydraflow.yaml:4: jobs.t.with: 'a' is set by the batch grid and again by with (a=5); "
         "set it in one place"],
        id="grid-key-set-again-by-the-jobs-with",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: python train.py\n    steps:\n      - zip: a=1,2 b=3,4\n        with: [x=1, b=3]\n",
        ["hydraflow.yaml:6: jobs.t.steps[0].with: 'b' is set by the batch grid and again by with (b=3); "
         "set it in one place"],
        id="zip-key-set-again-by-the-steps-with",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: python train.py\n    with: hydra.sweep.dir=out\n    steps:\n      - batch: a=1,2\n",
        ["hydraflow.yaml:4: jobs.t.with: hydra.sweep.dir is set for all 2 batches, which would overwrite "
         "each other's outputs; leave it out (every batch gets its own)"],
        id="sweep-dir-for-several-batches",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: !!binary cHl0aG9uIHRyYWluLnB5\n",
        ["hydraflow.yaml:3: jobs.t.run: YAML tag '!!binary' is not allowed; write plain text (quote it if needed)"],
        id="binary-tag-on-run",
    ),
    pytest.param(
        "jobs:\n  t: !job\n    run: x\n  u:\n    run: !!str x\n    steps: !!seq\n      - batch: !custom a=1\n",
        [
            "hydraflow.yaml:2: jobs.t: YAML tag '!job' is not allowed; write plain text (quote it if needed)",
            "hydraflow.yaml:5: jobs.u.run: YAML tag '!!str' is not allowed; write plain text (quote it if needed)",
            "hydraflow.yaml:6: jobs.u.steps: YAML tag '!!seq' is not allowed; write plain text (quote it if needed)",
        ],
        id="any-explicit-tag",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: python\x00 train.py\n",
        ["hydraflow.yaml:3:16: invalid YAML: control character '\\x00' is not allowed; a job file holds plain text"],
        id="nul-byte",
    ),
    pytest.param(
        "jobs:\n" + "".join(" " * i + "k:\n" for i in range(1, 1000)),
        ["hydraflow.yaml:65: nested more than 64 levels deep; a job file needs at most six "
         "(jobs, job, steps, step, list)"],
        id="block-mappings-1000-deep",
    ),
    pytest.param(
        "jobs:\n" + "- " * 3000 + "x\n",
        ["hydraflow.yaml:2: nested more than 64 levels deep; a job file needs at most six "
         "(jobs, job, steps, step, list)"],
        id="block-lists-3000-deep-on-one-line",
    ),
    pytest.param(
        "jobs: " + "[" * 10000 + "]" * 10000 + "\n",
        ["hydraflow.yaml:1: nested more than 64 levels deep; a job file needs at most six "
         "(jobs, job, steps, step, list)"],
        id="flow-nested-10000-deep",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: x\n---\njobs: {}\n",
        ["hydraflow.yaml:4: a second YAML document ('---'); a job file holds one"],
        id="two-documents",
    ),
    pytest.param(
        "jobs:\n  t:\n    submit: sbatch --array=0-{lst} x.sh {file}\n",
        ["hydraflow.yaml:3: jobs.t.submit: unknown placeholder '{lst}' (did you mean '{last}'?); "
         "valid: {file}, {count}, {last} (write {{ and }} for literal braces)"],
        id="unknown-submit-placeholder",
    ),
    pytest.param(
        "jobs:\n  t:\n    run: python train.py\n    steps:\n      - args: x=0:1:#30000\n",
        ["hydraflow.yaml:5: jobs.t.steps[0].args: 'x' in args gives 30000 values, 539987 bytes as one comma "
         "sweep, more than one command-line argument may hold (131071 bytes); sweep fewer values per batch "
         "(move some to batch), or use whole numbers with one step (passed on as Hydra's range())"],
        id="inner-sweep-too-long-for-one-argument",
    ),
    pytest.param("jobs:\n\ttrain:\n", ["hydraflow.yaml:2:1: invalid YAML: found character '\\t' that cannot "
                                        "start any token; indent with spaces, not tabs"], id="tab"),
    pytest.param(
        """
        jobs:
          train:
            run:
            steps:
              - batch: [a=1, {b: 2}]
        """,
        [
            "hydraflow.yaml:3: jobs.train.run: expected text, got nothing",
            "hydraflow.yaml:5: jobs.train.steps[0].batch: expected text, got a mapping",
        ],
        id="wrong-types",
    ),
]


@pytest.mark.parametrize("text, problems", BROKEN)
def test_broken_files_report_every_problem(tmp_path, text, problems):
    with pytest.raises(JobFileError) as info:
        load(tmp_path, text)
    assert info.value.problems == problems


def test_placeholders_and_shell_braces_load(tmp_path):
    text = "jobs:\n  t:\n    submit: sbatch --array=0-{last} --wrap 'echo ${HOME} {{x}}' {file}\n"
    assert load(tmp_path, text).jobs["t"].target == "sbatch --array=0-{last} --wrap 'echo ${HOME} {{x}}' {file}"


def test_too_big_a_file_is_refused_at_once(tmp_path):
    path = tmp_path / "hydraflow.yaml"
    path.write_text("jobs:\n  j:\n    run: " + "x" * (50 * 2**20) + "\n")
    with pytest.raises(JobFileError) as info:
        jobfile.load(path, "hydraflow.yaml")
    assert str(info.value) == ("hydraflow.yaml: 52428821 bytes, more than the 4 MiB a job file may have; "
                               "is it the right file?")


def test_one_job_of_20000_is_checked_alone(tmp_path):
    """``only=NAME`` reads past the other jobs: a broken one elsewhere is not reported (speed: the benchmarks)."""
    jobs = "".join(f"  j{i}:\n    run: python train.py\n    with: seed=1\n    steps:\n"
                   f"      - batch: a=1,2\n        args: b=1:3\n" for i in range(20000))
    path = tmp_path / "hydraflow.yaml"
    path.write_text("jobs:\n" + jobs + "  broken:\n    runn: x\n")
    loaded = jobfile.load(path, "hydraflow.yaml", only="j1")
    assert list(loaded.jobs) == ["j1"]
    assert loaded.jobs["j1"].steps == (Step(batch=("a=1,2",), args=("b=1:3",)),)
    with pytest.raises(JobFileError, match="jobs.broken.runn: unknown key"):
        jobfile.load(path, "hydraflow.yaml", only="broken")


def test_an_alias_into_a_skipped_job_still_loads(tmp_path):
    text = "jobs:\n  a:\n    run: &cmd python train.py\n  b:\n    run: *cmd\n"
    path = tmp_path / "hydraflow.yaml"
    path.write_text(text)
    assert jobfile.load(path, only="b").jobs["b"].target == "python train.py"


def test_not_utf8(tmp_path):
    path = tmp_path / "hydraflow.yaml"
    path.write_bytes(b"jobs:\n  t:\n    run: python \xff\xfe x.py\n")
    with pytest.raises(JobFileError) as info:
        jobfile.load(path, "hydraflow.yaml")
    assert str(info.value) == "hydraflow.yaml: not UTF-8 text (invalid start byte at byte 27)"


def test_missing_file_and_unknown_job(tmp_path):
    with pytest.raises(UsageError, match=r"^no hydraflow.yaml in .* \(write one, or give its path with --file PATH\)$"):
        jobfile.find(None, tmp_path)
    with pytest.raises(UsageError, match="^nope.yaml: no such file$"):
        jobfile.find("nope.yaml", tmp_path)
    with pytest.raises(UsageError, match="a directory, not a file$"):
        jobfile.find(str(tmp_path), tmp_path)
    loaded = load(tmp_path, "jobs:\n  train:\n    run: x\n  test:\n    run: y\n")
    with pytest.raises(UsageError) as info:
        jobfile.get_job(loaded, "trian", "hydraflow.yaml")
    assert str(info.value) == "no job 'trian' in hydraflow.yaml (did you mean 'train'?); jobs: train, test"


def test_example_app_file_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "example_app" / "hydraflow.yaml"
    loaded = jobfile.load(path)
    assert "train" in loaded.jobs
    assert {job.kind for job in loaded.jobs.values()} == {"run", "call", "submit"}


@given(st.text(alphabet=" \t\nab=,:|()1.-_\u00a0", max_size=40))
def test_plain_words_are_split_as_a_shell_splits_them(text):
    """The fast path for words without quotes or escapes gives exactly what shlex gives."""
    import shlex

    checker = jobfile.Checker.__new__(jobfile.Checker)
    assert checker.words(None, "k", text) == shlex.split(text)


def test_a_huge_plain_value_loads_whole(tmp_path):
    """A 2 MB batch value (shlex would take minutes on it) is read whole and planned."""
    from hydraflow_core.jobs.batches import plan_job

    value = "x" * (2 * 1024 * 1024)
    job = load(tmp_path, f"jobs:\n  j:\n    run: echo\n    steps:\n      - batch: a={value},y\n").jobs["j"]
    assert [b.arguments[0] for b in plan_job(job).batches] == [f"a={value}", "a=y"]
