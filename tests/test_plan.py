"""The planner: job definition + ARGS -> batches (pure, deterministic), and the
dry-run text of every job of example_app/hydraflow.yaml, written out by hand below."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_example_app

from hydraflow_core.jobs import load as jobfile
from hydraflow_core.cli import main
from hydraflow_core.errors import SweepSyntaxError
from hydraflow_core.jobs.model import Job, Step
from hydraflow_core.jobs.batches import PlanError, plan_job

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example_app"


def arguments(job, extra=(), run_id="R"):
    return [list(b.arguments) for b in plan_job(job, extra, run_id).batches]


def gen(job_name, batch_dir, run_id="R"):
    return [f"hydra.job.name={job_name}", f"hydra.sweep.dir=multirun/{job_name}/{run_id}/{batch_dir}"]


PLANS = [
    pytest.param(
        Job("t", "run", "x", steps=(Step(batch=("m=s,l", "lr=0.1,0.2"), args=("o=adam,sgd",)),)), (),
        [
            ["m=s", "lr=0.1", "o=adam,sgd", *gen("t", "0-m-s_lr-0.1")],
            ["m=s", "lr=0.2", "o=adam,sgd", *gen("t", "1-m-s_lr-0.2")],
            ["m=l", "lr=0.1", "o=adam,sgd", *gen("t", "2-m-l_lr-0.1")],
            ["m=l", "lr=0.2", "o=adam,sgd", *gen("t", "3-m-l_lr-0.2")],
        ],
        id="batch-product-last-fastest-args-inside",
    ),
    pytest.param(
        Job("t", "run", "x", steps=(Step(args=("lr=1m:3m", "lr2/k=1,2", "b=(x,y)_z")),)), (),
        [["lr=0.001,0.002,0.003", "lr2=1000,2000", "b=x_z,y_z", *gen("t", "0")]],
        id="args-expanded-and-joined-no-batch-runs-once",
    ),
    pytest.param(
        Job("t", "run", "x", with_=("seed=1", "hydra.job.chdir=true"),
            steps=(Step(batch=("a=1",), with_=("seed=2", "+extra=3")),)), (),
        [["a=1", "seed=2", "hydra.job.chdir=true", "+extra=3", *gen("t", "0-a-1")]],
        id="step-with-merged-over-job-with-by-key",
    ),
    pytest.param(
        Job("t", "run", "x", steps=(Step(batch=("a=1,2|b=3:5",)),)), (),
        [["a=1,2", *gen("t", "0-a-1-2")], ["b=3,4,5", *gen("t", "1-b-3-4-5")]],
        id="pipe-section-kept-together-as-one-batch",
    ),
    pytest.param(
        Job("t", "run", "x", steps=(Step(batch=("s=1,2",), zip=("m=a,b", "lr=1,2")),)), (),
        [
            ["s=1", "m=a", "lr=1", *gen("t", "0-s-1_m-a_lr-1")],
            ["s=1", "m=b", "lr=2", *gen("t", "1-s-1_m-b_lr-2")],
            ["s=2", "m=a", "lr=1", *gen("t", "2-s-2_m-a_lr-1")],
            ["s=2", "m=b", "lr=2", *gen("t", "3-s-2_m-b_lr-2")],
        ],
        id="batch-times-zip-pairs",
    ),
    pytest.param(
        Job("t", "run", "x", steps=(Step(batch=("a=1,2",)), Step(batch=("b=x",), args=("c=1:2",)))),
        ("lr=1:2", "+tag=t"),
        [
            ["a=1", *gen("t", "0-a-1"), "lr=1,2", "+tag=t"],
            ["a=2", *gen("t", "1-a-2"), "lr=1,2", "+tag=t"],
            ["b=x", "c=1,2", *gen("t", "2-b-x"), "lr=1,2", "+tag=t"],
        ],
        id="steps-in-order-args-appended-and-expanded",
    ),
    pytest.param(
        Job("t", "run", "x", with_=("hydra.sweep.dir=out",), steps=(Step(batch=("a=1",)),)), ("hydra.job.name=n",),
        [["a=1", "hydra.sweep.dir=out", "hydra.job.name=n"]],
        id="user-settings-replace-generated-ones",
    ),
    pytest.param(
        Job("t", "run", "x", steps=(Step(batch=("a=0:10",)),)), (),
        [[f"a={i}", *gen("t", f"{i:02d}-a-{i}")] for i in range(11)],
        id="batch-names-zero-padded",
    ),
    pytest.param(
        Job("t", "run", "x", steps=(Step(args=("seed=1:30000", "b=0:60000:2", "c=9:-30000:-1")),)), (),
        [["seed=range(1,30001)", "b=range(0,60002,2)", "c=range(9,-30001,-1)", *gen("t", "0")]],
        id="inner-sweep-too-long-for-one-argument-becomes-hydra-range",
    ),
]


@pytest.mark.parametrize("job, extra, expected", PLANS)
def test_plans(job, extra, expected):
    assert arguments(job, extra) == expected
    assert arguments(job, extra) == arguments(job, extra)  # deterministic


@pytest.mark.parametrize(
    "job, extra, error, message",
    [
        pytest.param(Job("t", "run", "x"), ("lr=1:3tep",), SweepSyntaxError, "range stop '3tep' is not a number",
                     id="bad-args"),
        pytest.param(Job("t", "run", "x", steps=(Step(batch=("lr=1,2",)),)), ("lr=1:3",), PlanError,
                     "'lr' is set by the batch grid and again by ARGS (lr=1,2,3); set it in one place",
                     id="args-repeat-a-grid-key"),
        pytest.param(Job("t", "run", "x", steps=(Step(batch=("seed=1,2",), args=("+seed=3,4",)),)), (), PlanError,
                     "'seed' is set by the batch grid and again by args (+seed=3,4); set it in one place",
                     id="args-repeat-a-grid-key-with-prefix"),
        pytest.param(Job("t", "run", "x", steps=(Step(batch=("a=1,2",)),)), ("hydra.sweep.dir=out",), PlanError,
                     "hydra.sweep.dir is set for all 2 batches, which would overwrite each other's outputs; "
                     "leave it out (every batch gets its own)", id="one-sweep-dir-for-many-batches"),
        pytest.param(Job("t", "run", "x", steps=(Step(batch=("a=1,2|b=3",)),)), ("b=5",), PlanError,
                     "'b' is set by the batch grid and again by ARGS (b=5); set it in one place",
                     id="args-repeat-a-key-of-a-later-pipe-section"),
        pytest.param(Job("t", "run", "x", steps=(Step(batch=("a=1:1000", "b=1:1000", "c=1:1000")),)), (), PlanError,
                     "job 't': 1000000000 batches, more than the limit of 100000 (raise it with --max-batches N, "
                     "or move a sweep from batch to args)", id="grid-counted-and-refused-before-it-is-built"),
        pytest.param(Job("t", "run", "x"), ("x=0:1:#30000",), PlanError,
                     "'x' in ARGS gives 30000 values, 539987 bytes as one comma sweep", id="args-too-long"),
        pytest.param(Job("t", "run", "x"), ("a=1|2",), PlanError,
                     "'a' has a '|', which Hydra cannot sweep inside one batch; move it from ARGS to batch",
                     id="pipe-in-args"),
        pytest.param(Job("t", "run", "x", steps=(Step(batch=("+cpus=1,2",)),), where="f.yaml:2",
                         slurm={"cpus_per_task": "${gpus}"}), (), PlanError,
                     "f.yaml:2: jobs.t: slurm: batch 0 (+cpus=1) sets no 'gpus' for its ${gpus}", id="slurm-interpolates-a-key-the-batch-lacks"),
        pytest.param(Job("t", "run", "x", steps=(Step(batch=("+cpus=1,x",), slurm={"cpus_per_task": "${cpus}"}),),
                         where="f.yaml:2"), (), PlanError,
                     "f.yaml:2: jobs.t: batch 1 (+cpus=x): "
                     "slurm.cpus_per_task must be a whole number of at least 1, not 'x'", id="slurm-bad-batch-value"),
    ],
)
def test_plan_errors(job, extra, error, message):
    with pytest.raises(error) as info:
        plan_job(job, extra)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("slurm, expected", [
    pytest.param({"cpus_per_task": "${cpus}"}, [{"cpus_per_task": 1}, {"cpus_per_task": 2}], id="typed-whole-value"),
    pytest.param({"comment": "run-${cpus}-${seed}", "nodes": 1},
                 [{"comment": "run-1-7", "nodes": 1}, {"comment": "run-2-7", "nodes": 1}], id="pasted-into-text"),
    pytest.param({"submitit_folder": "${hydra.sweep.dir}/x"}, [{"submitit_folder": "${hydra.sweep.dir}/x"}] * 2,
                 id="hydra-keys-left-to-hydra"),
])
def test_a_jobs_slurm_settings_interpolate_each_batchs_overrides(slurm, expected):
    job = Job("t", "run", "x", steps=(Step(batch=("+cpus=1,2",), slurm=slurm),), with_=("seed=7",))
    assert [dict(b.slurm) for b in plan_job(job, (), run_id="R").batches] == expected


@pytest.mark.parametrize(
    "command, expected",
    [
        pytest.param("sbatch --array=0-{last} s.sh {file}", ["sbatch", "--array=0-2", "s.sh", "multirun/t/R/batches.txt"],
                     id="last-and-file"),
        pytest.param("qsub -t 1-{count} --wrap 'run ${X} {{y}}' {file}",
                     ["qsub", "-t", "1-3", "--wrap", "run ${X} {y}", "multirun/t/R/batches.txt"],
                     id="count-shell-braces-and-literal-braces"),
        pytest.param("bash submit.sh", ["bash", "submit.sh", "multirun/t/R/batches.txt"], id="no-placeholder-appends"),
    ],
)
def test_submit_command_placeholders(command, expected):
    from hydraflow_core.jobs.submit import submit_command

    plan = plan_job(Job("t", "submit", command, steps=(Step(batch=("a=1:3",)),)), (), "R")
    assert submit_command(plan) == expected


def test_run_id_goes_into_every_sweep_dir():
    plan = plan_job(Job("t", "run", "x", steps=(Step(batch=("a=1,2",)),)), (), "2026-01-01_00-00-00")
    assert plan.run_dir == "multirun/t/2026-01-01_00-00-00"
    assert [b.sweep_dir for b in plan.batches] == [
        "multirun/t/2026-01-01_00-00-00/0-a-1", "multirun/t/2026-01-01_00-00-00/1-a-2"]


# --- the dry-run text of every job of the example app ------------------------------------------------------
#
# Written by hand from example_app/hydraflow.yaml and the README ("The schema"): each batch is
# `<run> -m <batch> <args> <with>` plus hydra.job.name=<job> and hydra.sweep.dir=multirun/<job>/{run_id}/<batch
# dir> (shell-quoted for its braces); a batch dir is its number and its batch overrides ('0-model-small'), or
# its number alone without a batch; `args` are expanded and joined with commas; a step's `with` replaces the
# job's by key, in place; a pipe section is one batch. A `submit` job prints its one command ({last}: the
# last batch's index; without a placeholder the file's path is appended), then the batches file's lines
# (what follows -m). A `call` job prints the function and each batch's argument list.

EXAMPLE_JOBS = sorted(jobfile.load(EXAMPLE / "hydraflow.yaml").jobs)

# Each dry run starts with the launcher the batches get (hydraflow_core/default_launcher.py).
ON_HYDRAFLOW = "# batches run on the hydraflow launcher, not Hydra's basic (a launcher your app or `with` chooses is kept)"
SUBMITTED = ("# batches run on the hydraflow launcher where the submit command passes on "
             "HYDRAFLOW_DEFAULT_LAUNCHER=hydraflow (a launcher your app or `with` chooses is kept)")

DRY_RUNS = [
    pytest.param("train", [
        ON_HYDRAFLOW,
        "python train.py -m model=small learning_rate=0.1 optimizer=adam,sgd hydra.job.name=train "
        "'hydra.sweep.dir=multirun/train/{run_id}/0-model-small_learning_rate-0.1'",
        "python train.py -m model=small learning_rate=0.2 optimizer=adam,sgd hydra.job.name=train "
        "'hydra.sweep.dir=multirun/train/{run_id}/1-model-small_learning_rate-0.2'",
        "python train.py -m model=large learning_rate=0.1 optimizer=adam,sgd hydra.job.name=train "
        "'hydra.sweep.dir=multirun/train/{run_id}/2-model-large_learning_rate-0.1'",
        "python train.py -m model=large learning_rate=0.2 optimizer=adam,sgd hydra.job.name=train "
        "'hydra.sweep.dir=multirun/train/{run_id}/3-model-large_learning_rate-0.2'",
    ], id="train"),
    pytest.param("train_submit", [
        SUBMITTED,
        "bash submit.sh 'multirun/train_submit/{run_id}/batches.txt'",
        "# multirun/train_submit/{run_id}/batches.txt:",
        "model=small learning_rate=0.001,0.002,0.003 hydra.job.name=train_submit "
        "'hydra.sweep.dir=multirun/train_submit/{run_id}/0-model-small'",
        "model=large learning_rate=0.001,0.002,0.003 hydra.job.name=train_submit "
        "'hydra.sweep.dir=multirun/train_submit/{run_id}/1-model-large'",
    ], id="train_submit"),
    pytest.param("train_array", [
        SUBMITTED,
        "sbatch --array=0-1 submit_array.sh 'multirun/train_array/{run_id}/batches.txt'",
        "# multirun/train_array/{run_id}/batches.txt:",
        "model=small learning_rate=0.001,0.002,0.003 hydra.job.name=train_array "
        "'hydra.sweep.dir=multirun/train_array/{run_id}/0-model-small'",
        "model=large learning_rate=0.001,0.002,0.003 hydra.job.name=train_array "
        "'hydra.sweep.dir=multirun/train_array/{run_id}/1-model-large'",
    ], id="train_array"),
    pytest.param("lr_scan", [
        ON_HYDRAFLOW,
        "python train.py -m model=small learning_rate=0.001,0.003,0.005 seed=2 hydra.job.chdir=false "
        "hydra.job.name=lr_scan 'hydra.sweep.dir=multirun/lr_scan/{run_id}/0-model-small'",
        "python train.py -m model=large learning_rate=0.001,0.003,0.005 seed=2 hydra.job.chdir=false "
        "hydra.job.name=lr_scan 'hydra.sweep.dir=multirun/lr_scan/{run_id}/1-model-large'",
        "python train.py -m model=small learning_rate=0.01,0.02 seed=1 hydra.job.chdir=false "
        "hydra.job.name=lr_scan 'hydra.sweep.dir=multirun/lr_scan/{run_id}/2-model-small'",
    ], id="lr_scan"),
    pytest.param("paired", [
        ON_HYDRAFLOW,
        "python train.py -m model=small learning_rate=0.1 seed=0,1 hydra.job.name=paired "
        "'hydra.sweep.dir=multirun/paired/{run_id}/0-model-small_learning_rate-0.1'",
        "python train.py -m model=large learning_rate=0.01 seed=0,1 hydra.job.name=paired "
        "'hydra.sweep.dir=multirun/paired/{run_id}/1-model-large_learning_rate-0.01'",
    ], id="paired"),
    pytest.param("ablation", [
        ON_HYDRAFLOW,
        "python train.py -m optimizer=adam,sgd hydra.job.name=ablation "
        "'hydra.sweep.dir=multirun/ablation/{run_id}/0-optimizer-adam-sgd'",
        "python train.py -m learning_rate=0.1,0.2 hydra.job.name=ablation "
        "'hydra.sweep.dir=multirun/ablation/{run_id}/1-learning_rate-0.1-0.2'",
    ], id="ablation"),
    pytest.param("parallel", [ON_HYDRAFLOW, *(
        f"python train.py -m seed={i} sleep=0.5 hydra.job.name=parallel "
        f"'hydra.sweep.dir=multirun/parallel/{{run_id}}/{i}-seed-{i}'" for i in range(4)
    )], id="parallel"),
    pytest.param("flaky", [
        ON_HYDRAFLOW,
        "python train.py -m fail=false hydra.job.name=flaky 'hydra.sweep.dir=multirun/flaky/{run_id}/0-fail-false'",
        "python train.py -m fail=true hydra.job.name=flaky 'hydra.sweep.dir=multirun/flaky/{run_id}/1-fail-true'",
        "python train.py -m fail=false hydra.job.name=flaky 'hydra.sweep.dir=multirun/flaky/{run_id}/2-fail-false'",
    ], id="flaky"),
    pytest.param("called", [
        ON_HYDRAFLOW,
        "launch.sweep(['model=small', 'hydra.job.name=called', "
        "'hydra.sweep.dir=multirun/called/{run_id}/0-model-small'])",
        "launch.sweep(['model=large', 'hydra.job.name=called', "
        "'hydra.sweep.dir=multirun/called/{run_id}/1-model-large'])",
    ], id="called"),
    pytest.param("once", [
        ON_HYDRAFLOW,
        "python train.py -m seed=0,1 hydra.job.name=once 'hydra.sweep.dir=multirun/once/{run_id}/0'",
    ], id="once"),
    # HydraFlow 0.23's schema: every set is its own step, a set's add merged over the job's (seed=2 wins).
    pytest.param("original", [
        ON_HYDRAFLOW,
        "python train.py -m model=small learning_rate=0.1,0.2 seed=1 hydra.job.chdir=false hydra.job.name=original "
        "'hydra.sweep.dir=multirun/original/{run_id}/0-model-small'",
        "python train.py -m model=large learning_rate=0.1,0.2 seed=1 hydra.job.chdir=false hydra.job.name=original "
        "'hydra.sweep.dir=multirun/original/{run_id}/1-model-large'",
        "python train.py -m model=large seed=2 hydra.job.chdir=false hydra.job.name=original "
        "'hydra.sweep.dir=multirun/original/{run_id}/2-model-large'",
    ], id="original"),
]


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """A private copy of example_app: a multirun/ left in the repository's copy changes nothing."""
    return copy_example_app(tmp_path_factory.mktemp("plan"))


def test_every_example_job_has_its_dry_run_written_out():
    assert sorted(case.values[0] for case in DRY_RUNS) == EXAMPLE_JOBS


@pytest.mark.parametrize("job, lines", DRY_RUNS)
def test_dry_run_prints_each_batch(job, lines, capsys, monkeypatch, example):
    monkeypatch.chdir(example)
    assert main(["run", job, "--dry-run"]) == 0
    assert capsys.readouterr().out == "".join(line + "\n" for line in lines)
    assert not (example / "multirun").exists()  # a dry run creates nothing


def test_dry_run_ignores_a_multirun_dir_left_in_the_app(capsys, monkeypatch, tmp_path):
    """The quick start's run leaves example_app/multirun/train/: the dry run's text does not change."""
    app = copy_example_app(tmp_path)
    (app / "multirun" / "train" / "2026-01-01_00-00-00").mkdir(parents=True)
    monkeypatch.chdir(app)
    assert main(["run", "train", "--dry-run"]) == 0
    (train,) = [case.values[1] for case in DRY_RUNS if case.values[0] == "train"]
    assert capsys.readouterr().out == "".join(line + "\n" for line in train)


def test_acceptance_dry_run_of_train(capsys, monkeypatch, example):
    """The issue's acceptance: four commands, each with -m, one model/lr pair in order, the args sweep."""
    monkeypatch.chdir(example)
    main(["run", "train", "--dry-run"])
    said, *lines = capsys.readouterr().out.splitlines()
    assert said == ON_HYDRAFLOW
    assert len(lines) == 4
    pairs = []
    for line in lines:
        words = line.split()
        assert words[:3] == ["python", "train.py", "-m"]
        assert "optimizer=adam,sgd" in words
        pairs.append((words[3], words[4]))
    assert pairs == [
        ("model=small", "learning_rate=0.1"), ("model=small", "learning_rate=0.2"),
        ("model=large", "learning_rate=0.1"), ("model=large", "learning_rate=0.2"),
    ]


@pytest.mark.parametrize(
    "word, quoted",
    [
        pytest.param("a=1", "a=1", id="plain"),
        pytest.param("b='1:2'", '"b=\'1:2\'"', id="single-quotes-in-double"),
        pytest.param("+note=x\ntouch pwned", "$'+note=x\\ntouch pwned'", id="newline-as-ansi-c"),
        pytest.param("t=it's\t\x01\\", "$'t=it\\'s\\t\\x01\\\\'", id="quote-tab-control-backslash"),
    ],
)
def test_shell_quote_keeps_one_word_on_one_line(word, quoted):
    import subprocess

    from hydraflow_core.jobs.shell import quote

    assert quote(word) == quoted
    assert "\n" not in quoted
    assert subprocess.run(["bash", "-c", f"printf %s {quoted}"], capture_output=True, text=True).stdout == word
