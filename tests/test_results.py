"""``hydraflow results``: the table, the files and the picture, over real Hydra multiruns.

One module-wide set of sweeps, made once with real hydra-core: a plugin sweep
``lr=1:4 model=small,large`` of an app returning ``{"loss", "acc"}``, the same
as a ``hydraflow run`` job of two batches, a sweep of an app that returns
nothing and writes ``results.json`` (one of its runs fails), and the example
app's sweep (a plain float). The acceptance of issue 25 runs on them as a user
would; the option tables run the CLI in process.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import copy_example_app

from hydraflow_core import results
from hydraflow_core.cli import main
from hydraflow_core.cli.plot import series
from hydraflow_core.cli.results_files import as_json
from hydraflow_core.results import Row, flat, params

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
HYDRAFLOW = str(Path(sys.executable).with_name("hydraflow"))
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

CONFIG = "lr: 1\nmodel: small\n"
#: Returns a mapping of two numbers: loss 1/(lr*width), acc 1-1/(lr*width+1) (large is twice as wide).
ACC_APP = """
import hydra

@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg):
    width = {"small": 1, "large": 2}[cfg.model]
    return {"loss": 1 / (cfg.lr * width), "acc": 1 - 1 / (cfg.lr * width + 1)}

if __name__ == "__main__":
    main()
"""
#: Returns nothing and writes results.json (nested: acc.top1); lr=3 fails.
WRITES_APP = """
import json
import hydra
from hydra.core.hydra_config import HydraConfig

@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg):
    if cfg.lr == 3:
        raise RuntimeError("lr=3 diverges")
    with open(f"{HydraConfig.get().runtime.output_dir}/results.json", "w") as file:
        json.dump({"loss": 1 / cfg.lr, "acc": {"top1": cfg.lr / 10}}, file)

if __name__ == "__main__":
    main()
"""
JOB_FILE = """
jobs:
  acc:
    run: python acc.py
    steps:
      - batch: model=small,large  # two batches
        args: lr=1:4
"""
SWEEP = ["lr=1:4", "model=small,large"]


def loss(lr: int, model: str) -> float:
    return 1 / (lr * {"small": 1, "large": 2}[model])


def acc(lr: int, model: str) -> float:
    return 1 - 1 / (lr * {"small": 1, "large": 2}[model] + 1)


def start(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> SimpleNamespace:
    """The sweeps, made once: ``sweep`` (plugin), ``job`` (a hydraflow run directory), ``writes``
    (results.json, one failed run), ``example`` (the example app: a float)."""
    app = tmp_path_factory.mktemp("results")
    (app / "config.yaml").write_text(CONFIG)
    (app / "acc.py").write_text(ACC_APP)
    (app / "writes.py").write_text(WRITES_APP)
    (app / "hydraflow.yaml").write_text(JOB_FILE)
    python = [sys.executable]
    ran = start(app, *python, "acc.py", "-m", "hydra/launcher=hydraflow", *SWEEP, "hydra.sweep.dir=sweep")
    assert ran.returncode == 0, ran.stderr
    ran = start(app, HYDRAFLOW, "run", "acc")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    ran = start(app, *python, "writes.py", "-m", "hydra/launcher=hydraflow", "lr=1:4", "hydra.sweep.dir=writes")
    assert "lr=3 diverges" in ran.stdout + ran.stderr
    example = copy_example_app(app)
    ran = start(example, *python, "train.py", "-m", "learning_rate=1,2", "model=small,large",
                "hydra.sweep.dir=sweep")
    assert ran.returncode == 0, ran.stderr
    (job,) = (app / "multirun" / "acc").iterdir()
    return SimpleNamespace(app=app, sweep=app / "sweep", job=job, writes=app / "writes",
                           example=example / "sweep")


def cli(capfd, *argv: str) -> SimpleNamespace:
    """``hydraflow ARGV`` in this process: its exit code, stdout and stderr."""
    code = main([str(arg) for arg in argv])
    out, err = capfd.readouterr()
    return SimpleNamespace(code=code, out=out, err=err)


def shown(out: str) -> list:
    """The table's rows as lists of cells."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]


def header(out: str) -> list:
    line = next(line for line in out.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in line.split("┃")[1:-1]]


# ----- acceptance (issue 25), as a new user would, on the plugin sweep and on the job of two batches

WHERE = [pytest.param("sweep", ["#", "lr", "model"], id="plugin sweep"),
         pytest.param("job", ["batch", "#", "model", "lr"], id="hydraflow run job of two batches")]


@pytest.mark.slow
@pytest.mark.parametrize("which, first", WHERE)
def test_the_table_has_the_swept_keys_and_the_returned_numbers(made, capfd, which, first):
    result = cli(capfd, "results", getattr(made, which))
    assert result.code == 0 and result.err == ""
    assert header(result.out) == [*first, "state", "loss", "acc", "duration"]
    rows = shown(result.out)
    assert len(rows) == 8
    for row in rows:
        cells = dict(zip(header(result.out), row))
        lr, model = int(cells["lr"]), cells["model"]
        assert cells["state"] == "completed" and re.fullmatch(r"\d+\.\ds", cells["duration"])
        assert float(cells["loss"]) == pytest.approx(loss(lr, model), rel=1e-5)
        assert float(cells["acc"]) == pytest.approx(acc(lr, model), rel=1e-5)
    if which == "job":
        assert sorted({row[0] for row in rows}) == ["0-model-small", "1-model-large"]


@pytest.mark.slow
@pytest.mark.parametrize("which, first", WHERE)
def test_csv_has_every_run_with_its_returned_values(made, capfd, tmp_path, which, first):
    path = tmp_path / "results.csv"
    result = cli(capfd, "results", getattr(made, which), "--csv", path)
    assert (result.code, result.out, result.err) == (0, f"wrote {path}: 8 rows\n", "")
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert reader.fieldnames == [*first, "state", "loss", "acc", "duration", "output_dir"]
    assert len(rows) == 8
    assert sorted((int(r["lr"]), r["model"]) for r in rows) == [(lr, m) for lr in (1, 2, 3, 4)
                                                                 for m in ("large", "small")]
    for row in rows:
        lr, model = int(row["lr"]), row["model"]
        assert float(row["loss"]) == loss(lr, model) and float(row["acc"]) == acc(lr, model)
        assert float(row["duration"]) > 0 and Path(row["output_dir"]).is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("which, first", WHERE)
def test_json_sorted_by_loss_lists_the_best_run_first(made, capfd, which, first):
    result = cli(capfd, "results", getattr(made, which), "--json", "--sort", "loss")
    assert result.code == 0 and result.err == ""
    document = json.loads(result.out)
    losses = [row["values"]["loss"] for row in document["rows"]]
    assert losses == sorted(losses) and len(losses) == 8
    best = document["rows"][0]
    assert best["params"] == {"lr": "4", "model": "large"} and best["values"] == {"loss": 0.125, "acc": acc(4, "large")}
    assert best["batch"] == ("1-model-large" if which == "job" else None)
    assert document["kind"] == which and document["sort"] == "loss" and document["numbers"] == ["loss", "acc"]
    assert document["columns"] == [*first, "state", "loss", "acc", "duration"]


@pytest.mark.slow
@pytest.mark.parametrize("which", [pytest.param("sweep", id="plugin sweep"), pytest.param("job", id="job")])
def test_the_plot_has_one_line_per_model(made, capfd, tmp_path, which):
    out = tmp_path / "loss.png"
    result = cli(capfd, "results", getattr(made, which), "--plot", "lr", "--y", "loss", "--out", out)
    assert (result.code, result.out, result.err) == (0, f"wrote {out}: loss against lr\n", "")
    assert out.read_bytes().startswith(b"\x89PNG")
    lines = series(results.read(getattr(made, which)), "lr", "loss")
    assert sorted(lines) == ["model=large", "model=small"]
    for label, points in lines.items():
        model = label.split("=")[1]
        assert points == [(str(lr), loss(lr, model)) for lr in (1, 2, 3, 4)]


# ----- the picture, checked for real

@pytest.mark.slow
def test_the_png_is_a_picture_with_two_coloured_lines(made, capfd, tmp_path):
    import matplotlib.image
    import numpy

    out = tmp_path / "loss.png"
    assert cli(capfd, "results", made.sweep, "--plot", "lr", "--y", "loss", "--out", out).code == 0
    pixels = matplotlib.image.imread(str(out))[..., :3]
    assert pixels.shape == (420, 640, 3)
    for colour in ("#1f77b4", "#ff7f0e"):  # matplotlib's first two line colours: one line per model
        rgb = numpy.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        assert (numpy.abs(pixels - rgb).max(axis=2) < 0.02).sum() > 200, colour


@pytest.mark.slow
def test_the_svg_names_its_axes_and_each_model_in_the_legend(made, capfd, tmp_path):
    out = tmp_path / "loss.svg"
    assert cli(capfd, "results", made.sweep, "--plot", "lr", "--y", "loss", "--out", out).code == 0
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    labels = re.findall(r"<!-- (.*?) -->", text)  # matplotlib names each text it draws
    for label in ("lr", "loss", "model=small", "model=large"):
        assert label in labels, label
    assert 'id="legend_1"' in text


# ----- the options: a table of arguments and what they print

# The plugin sweep, lr=1:4 x model=small,large: run n is lr = n // 2 + 1, model small for even n.
OPTIONS = [
    pytest.param([], list(range(8)), [], id="run order"),
    pytest.param(["--sort", "loss"], [7, 5, 3, 6, 4, 1, 2, 0],
                 ["best: #7 loss=0.125", "best loss by lr: 1 0.5 (#1), 2 0.25 (#3), 3 0.166667 (#5), 4 0.125 (#7)",
                  "best loss by model: large 0.125 (#7), small 0.25 (#6)"], id="sort: ascending, ties in run order"),
    pytest.param(["--sort=-loss"], [0, 1, 2, 4, 3, 6, 5, 7],
                 ["best: #0 loss=1", "best loss by lr: 1 1 (#0), 2 0.5 (#2), 3 0.333333 (#4), 4 0.25 (#6)",
                  "best loss by model: large 0.5 (#1), small 1 (#0)"], id="sort=-: descending"),
    pytest.param(["--sort=-acc"], [7, 5, 3, 6, 4, 1, 2, 0],
                 ["best: #7 acc=0.888889", "best acc by lr: 1 0.666667 (#1), 2 0.8 (#3), 3 0.857143 (#5), 4 0.888889 "
                  "(#7)", "best acc by model: large 0.888889 (#7), small 0.8 (#6)"], id="sort=-acc"),
    pytest.param(["--sort", "lr"], list(range(8)), ["best: #0 lr=1", "best lr by model: large 1 (#1), small 1 (#0)"],
                 id="sort by a swept key: no line for that key"),
    pytest.param(["--where", "model=small"], [0, 2, 4, 6], [], id="where"),
    pytest.param(["--where", "lr=2.0"], [2, 3], [], id="where: numbers compared as numbers"),
    pytest.param(["--where", "model=large", "--where", "lr=3"], [5], [], id="where twice"),
    pytest.param(["--where", "model=large", "--sort", "loss"], [7, 5, 3, 1], ["best: #7 loss=0.125"],
                 id="where and sort: one model, one run per lr: no line to compare"),
    pytest.param(["--where", "state=failed"], [], [], id="where: nothing left"),
    pytest.param(["--sort", "nope"], 2, "--sort nope: no such column; the columns are: #, lr, model, state, loss, "
                 "acc, duration", id="sort: unknown column"),
    pytest.param(["--where", "nope=1"], 2, "--where nope: no such column; the columns are: #, lr, model, state, "
                 "loss, acc, duration", id="where: unknown column"),
    pytest.param(["--where", "model"], 2, "--where model: expected KEY=VALUE (e.g. --where model=small)",
                 id="where without ="),
    pytest.param(["--plot", "lr"], 2, "--plot X --y KEY --out FILE.png: all three together (e.g. --plot lr --y "
                 "loss --out loss.png)", id="plot without --y and --out"),
    pytest.param(["--plot", "loss", "--y", "acc", "--out", "{tmp}/x.png"], 2,
                 "--plot loss: not a swept key; the swept keys are: lr, model", id="plot: X not swept"),
    pytest.param(["--plot", "lr", "--y", "nope", "--out", "{tmp}/x.png"], 2,
                 "--y nope: no such column; the columns are: #, lr, model, state, loss, acc, duration",
                 id="plot: unknown --y"),
    pytest.param(["--plot", "lr", "--y", "state", "--out", "{tmp}/x.png"], 2,
                 "--y state: no run has a number for it (the numbers are: loss, acc)", id="plot: --y not a number"),
    pytest.param(["--plot", "lr", "--y", "loss", "--out", "{tmp}/x.gif"], 2,
                 "--out {tmp}/x.gif: the picture is written as .png or .svg, not '.gif'", id="plot: not png or svg"),
    pytest.param(["--csv", "{tmp}/missing/r.csv"], 2,
                 "--csv {tmp}/missing/r.csv: cannot write it: No such file or directory", id="csv: no directory"),
    pytest.param(["--parquet", "{tmp}"], 2, "--parquet {tmp}: cannot write it: Is a directory",
                 id="parquet: a directory"),
    pytest.param(["--plot", "lr", "--y", "loss", "--out", "{tmp}/missing/x.png"], 2,
                 "--out {tmp}/missing/x.png: cannot write it: No such file or directory", id="plot: no directory"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv, expected, lines", OPTIONS)
def test_options(made, capfd, tmp_path, argv, expected, lines):
    """Rows shown (their #) and the lines under the table; or exit 2 and one line."""
    result = cli(capfd, "results", made.sweep, *(arg.replace("{tmp}", str(tmp_path)) for arg in argv))
    if expected == 2:
        assert (result.code, result.out) == (2, "")
        assert result.err == f"hydraflow: error: {lines.replace('{tmp}', str(tmp_path))}\n"
        assert list(tmp_path.iterdir()) == []
        return
    assert (result.code, result.err) == (0, "")
    assert [int(row[0]) for row in shown(result.out)] == expected
    under = result.out.split("└", 1)[1].splitlines()[1:]
    assert under == lines
    if lines:  # the best row is the first
        assert f"#{shown(result.out)[0][0]} " in lines[0]


@pytest.mark.slow
def test_a_missing_directory_or_one_without_a_manifest_is_one_line(made, capfd, tmp_path):
    result = cli(capfd, "results", tmp_path / "nope")
    assert (result.code, result.out) == (2, "")
    assert result.err == (f"hydraflow: error: {tmp_path / 'nope'}: no such directory (give a sweep directory or "
                          "a hydraflow run directory)\n")
    result = cli(capfd, "results", tmp_path)
    assert result.code == 2 and result.err.startswith(f"hydraflow: error: {tmp_path} is not a hydraflow sweep")
    assert result.err.count("\n") == 1


@pytest.mark.slow
def test_the_table_shows_the_first_50_rows_unless_all(tmp_path, capfd):
    from hydraflow_core.manifest import EventLog, Manifest

    sweep = tmp_path / "big"
    record = Manifest(sweep)
    record.create({"kind": "sweep", "runs": 60})
    record.add_plan({"run": n, "overrides": [f"x={n}"], "group": 0, "task": n} for n in range(60))
    events = EventLog(sweep, record.begin_attempt({"kind": "launch"}))
    for n in range(60):
        events.started(n, output_dir=str(sweep / str(n)))
        events.ended(n, "completed", return_value=n / 2)
    result = cli(capfd, "results", sweep, "--sort=-value")
    assert [int(row[0]) for row in shown(result.out)] == list(range(59, 9, -1))
    assert "... 10 more rows (--all shows them; --csv FILE and --json hold every row)" in result.out
    assert len(shown(cli(capfd, "results", sweep, "--all").out)) == 60
    assert len(json.loads(cli(capfd, "results", sweep, "--json").out)["rows"]) == 60


# ----- runs that returned nothing: results.json; runs that did not complete keep their row

@pytest.mark.slow
def test_results_json_joins_the_row_and_a_failed_run_keeps_its_row(made, capfd, tmp_path):
    result = cli(capfd, "results", made.writes, "--sort", "loss")
    assert header(result.out) == ["#", "lr", "state", "loss", "acc.top1", "duration"]
    assert [row[:5] for row in shown(result.out)] == [
        ["3", "4", "completed", "0.25", "0.4"], ["1", "2", "completed", "0.5", "0.2"],
        ["0", "1", "completed", "1", "0.1"], ["2", "3", "failed", "", ""]]
    document = json.loads(cli(capfd, "results", made.writes, "--json").out)
    failed = document["rows"][2]
    assert (failed["state"], failed["values"], failed["params"]) == ("failed", {}, {"lr": "3"})
    assert failed["duration"] is not None
    path = tmp_path / "r.csv"
    cli(capfd, "results", made.writes, "--csv", path)
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["#"], r["state"], r["loss"], r["acc.top1"]) for r in rows] == [
        ("0", "completed", "1.0", "0.1"), ("1", "completed", "0.5", "0.2"), ("2", "failed", "", ""),
        ("3", "completed", "0.25", "0.4")]


@pytest.mark.slow
def test_a_plain_number_is_value(made, capfd):
    document = json.loads(cli(capfd, "results", made.example, "--json", "--sort=-value").out)
    assert document["swept"] == ["learning_rate", "model"] and document["numbers"] == ["value"]
    assert [(r["params"], r["values"]) for r in document["rows"]] == [
        ({"learning_rate": "2", "model": "large"}, {"value": 1024.0}),
        ({"learning_rate": "1", "model": "large"}, {"value": 512.0}),
        ({"learning_rate": "2", "model": "small"}, {"value": 128.0}),
        ({"learning_rate": "1", "model": "small"}, {"value": 64.0})]


@pytest.mark.slow
def test_a_batch_on_another_launcher_is_one_row_with_its_own_values(tmp_path, capfd):
    """Its app kept no manifest (Hydra's basic launcher): the job's record of the batch is its row."""
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "acc.py").write_text(ACC_APP)
    (tmp_path / "hydraflow.yaml").write_text(JOB_FILE.replace("run: python acc.py", "run: python acc.py\n"
                                                              "    with: hydra/launcher=basic"))
    ran = start(tmp_path, HYDRAFLOW, "run", "acc")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (directory,) = (tmp_path / "multirun" / "acc").iterdir()
    document = json.loads(cli(capfd, "results", directory, "--json").out)
    assert [(r["batch"], r["number"], r["params"], r["state"], r["values"]) for r in document["rows"]] == [
        ("0-model-small", 0, {"model": "small"}, "completed", {}),
        ("1-model-large", 1, {"model": "large"}, "completed", {})]
    assert document["columns"] == ["batch", "#", "model", "state", "duration"]


@pytest.mark.slow
def test_optuna_trials_behind_the_hydraflow_launcher(tmp_path, capfd):
    """Another sweeper's trials: one row each; the best is the one Optuna reports."""
    app = copy_example_app(tmp_path)
    ran = start(app, sys.executable, "train.py", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4",
                "hydra.sweeper.sampler.seed=7", "learning_rate=interval(0.1,1)", "model=small,large",
                "hydra.sweep.dir=sweep")
    assert ran.returncode == 0, ran.stderr
    document = json.loads(cli(capfd, "results", app / "sweep", "--json", "--sort", "value").out)
    assert len(document["rows"]) == 4 and "learning_rate" in document["swept"]
    reported = float(re.search(r"Best value: (\S+)", ran.stdout + ran.stderr).group(1))
    assert document["rows"][0]["values"]["value"] == pytest.approx(reported)


# ----- files: Parquet read back, the JSON fields documented, pyarrow and matplotlib missing

@pytest.mark.slow
def test_parquet_reads_back_with_pyarrow(made, capfd, tmp_path):
    import pyarrow.parquet

    path = tmp_path / "results.parquet"
    result = cli(capfd, "results", made.writes, "--parquet", path)
    assert (result.code, result.out) == (0, f"wrote {path}: 4 rows\n")
    table = pyarrow.parquet.read_table(path)
    assert {name: str(table.schema.field(name).type) for name in table.column_names} == {
        "#": "int64", "lr": "string", "state": "string", "loss": "double", "acc.top1": "double",
        "duration": "double", "output_dir": "string"}
    rows = table.to_pylist()
    assert [(r["#"], r["lr"], r["state"], r["loss"], r["acc.top1"]) for r in rows] == [
        (0, "1", "completed", 1.0, 0.1), (1, "2", "completed", 0.5, 0.2), (2, "3", "failed", None, None),
        (3, "4", "completed", 0.25, 0.4)]


@pytest.mark.slow
def test_the_readme_names_every_json_field(made, capfd):
    document = json.loads(cli(capfd, "results", made.job, "--json").out)
    section = README.split("## Results: `hydraflow results`", 1)[1].split("\n## ", 1)[0]
    fields = {*document, *document["rows"][0]}
    assert fields == {"directory", "kind", "columns", "swept", "numbers", "sort", "rows", "number", "batch",
                      "params", "state", "values", "duration", "output_dir"}
    assert sorted(field for field in fields if f"`{field}`" not in section) == []


MISSING = [
    pytest.param("matplotlib", ["--plot", "lr", "--y", "loss", "--out", "x.png"],
                 "--plot needs matplotlib, which is not installed here: pip install 'hydraflow-launcher[plot]'",
                 id="matplotlib"),
    pytest.param("pyarrow", ["--parquet", "x.parquet"],
                 "--parquet needs pyarrow, which is not installed here: pip install pyarrow (--csv FILE needs "
                 "nothing)", id="pyarrow"),
]


@pytest.mark.slow
@pytest.mark.parametrize("module, argv, line", MISSING)
def test_without_the_optional_package_one_line_says_how_to_install_it(made, tmp_path, module, argv, line):
    code = (f"import sys; sys.modules[{module!r}] = None; from hydraflow_core.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    ran = start(tmp_path, sys.executable, "-c", code, "results", str(made.sweep), *argv)
    assert (ran.returncode, ran.stdout, ran.stderr) == (2, "", f"hydraflow: error: {line}\n")
    assert list(tmp_path.iterdir()) == []


# ----- the pure parts: what a run returned as columns, its overrides as keys, which keys are swept

FLAT = [
    pytest.param({"loss": 0.5, "acc": 0.9}, {"loss": 0.5, "acc": 0.9}, id="mapping"),
    pytest.param({"acc": {"top1": 0.5, "top5": 0.9}, "loss": 1}, {"acc.top1": 0.5, "acc.top5": 0.9, "loss": 1},
                 id="nested keys joined with dots"),
    pytest.param(0.25, {"value": 0.25}, id="plain float"),
    pytest.param(3, {"value": 3}, id="plain int"),
    pytest.param("0.5", {"value": 0.5}, id="a number as text"),
    pytest.param("nan", {"value": "nan"}, id="NaN as the manifest records it"),
    pytest.param({"loss": float("inf")}, {"loss": "inf"}, id="infinity from results.json stays text"),
    pytest.param({"ok": True, "name": "best"}, {"ok": True, "name": "best"}, id="bool and short text"),
    pytest.param({"log": "x" * 81}, {}, id="long text left out"),
    pytest.param([1, 2], {}, id="a list left out"),
    pytest.param(None, {}, id="nothing"),
]


@pytest.mark.parametrize("returned, expected", FLAT)
def test_flat(returned, expected):
    assert flat(returned) == expected


PARAMS = [
    pytest.param(["lr=0.1", "model=small"], {"lr": "0.1", "model": "small"}, id="plain"),
    pytest.param(["+lr=1", "++seed=2"], {"lr": "1", "seed": "2"}, id="+ and ++ dropped"),
    pytest.param(["~optimizer", "hydra.job.name=x", "hydra/launcher=basic", "lr=1"], {"lr": "1"},
                 id="deletions and Hydra's own keys left out"),
    pytest.param(["model=cnn=3"], {"model": "cnn=3"}, id="value with ="),
]


@pytest.mark.parametrize("overrides, expected", PARAMS)
def test_params(overrides, expected):
    assert params(overrides) == expected


SWEPT = [
    pytest.param([{"lr": "1", "seed": "0"}, {"lr": "2", "seed": "0"}], ["lr"], id="a constant key is not swept"),
    pytest.param([{"lr": "1", "seed": "0"}], ["lr", "seed"], id="one run: every key"),
    pytest.param([{"lr": "1"}, {"lr": "1", "extra": "x"}], ["extra"], id="a key some runs lack"),
    pytest.param([{"b": "1", "a": "1"}, {"b": "2", "a": "2"}], ["b", "a"], id="in override order"),
    pytest.param([], [], id="no runs"),
]


@pytest.mark.parametrize("given, expected", SWEPT)
def test_swept_keys(given, expected):
    rows = [Row(n, p, "completed", {}, None, None) for n, p in enumerate(given)]
    found = results._results(Path("x"), "sweep", rows)
    assert found.swept == expected
    assert as_json(found, None)["columns"] == ["#", *expected, "state", "duration"]
