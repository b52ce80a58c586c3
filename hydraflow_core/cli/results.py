"""``hydraflow results DIR``: which run was best, as a table, a file (CSV, JSON, Parquet) and a picture."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from rich.console import Console
from rich.table import Table

from hydraflow_core import results as results_
from hydraflow_core.cli.results_files import as_json, write_csv, write_parquet
from hydraflow_core.errors import UsageError
from hydraflow_core.results import Results, Row

#: Rows the table shows unless --all (the files and --json hold every row).
TABLE_UP_TO = 50
#: Values a "best ... by KEY" line names at most.
BEST_UP_TO = 20


def results_verb(args: argparse.Namespace, directory: Path, console: Console) -> int:
    collecting = gc.isenabled()
    gc.disable()  # 10^5 rows of small objects, no cycles: the collector would only rescan them while sorting
    try:
        return _results(args, directory, console)
    finally:
        if collecting:
            gc.enable()


def _results(args: argparse.Namespace, directory: Path, console: Console) -> int:
    found = results_.read(directory)
    found = found.where(args.where or [])
    if args.sort:
        found = found.sorted(args.sort)
    # What was written is said on stdout, unless stdout is the JSON document.
    said = (lambda text: print(text, file=sys.stderr)) if args.json else (
        lambda text: console.print(text, highlight=False))
    if args.plot or args.y or args.out:
        _plot(found, args, said)
    if args.csv:
        _write("--csv", args.csv, write_csv, found, said)
    if args.parquet:
        _write("--parquet", args.parquet, write_parquet, found, said)
    if args.json:
        console.file.write(json.dumps(as_json(found, args.sort)) + "\n")
    elif not (args.plot or args.csv or args.parquet):
        table(console, found, args.sort, args.all, args.directory)
    console.file.flush()  # its own copy of stdout: written now, not when (or if) it is collected
    return 0


def _plot(found: Results, args: argparse.Namespace, said: Callable[[str], None]) -> None:
    from hydraflow_core.cli.plot import plot

    if not (args.plot and args.y and args.out):
        raise UsageError("--plot X --y KEY --out FILE.png: all three together (e.g. --plot lr --y loss "
                         "--out loss.png)")
    if args.plot not in found.swept:
        raise UsageError(f"--plot {args.plot}: not a swept key; the swept keys are: "
                         f"{', '.join(found.swept) or '(none)'}")
    y = found.known(args.y, "--y")
    try:
        plot(found, args.plot, y, Path(args.out))
    except OSError as error:
        raise UsageError(f"--out {args.out}: cannot write it: {error.strerror or error}") from None
    said(f"wrote {args.out}: {y} against {args.plot}")


def _write(option: str, path: str, writer: Callable[[Results, Path], None], found: Results,
           said: Callable[[str], None]) -> None:
    try:
        writer(found, Path(path))
    except OSError as error:  # a missing directory, no permission: named, no traceback
        raise UsageError(f"{option} {path}: cannot write it: {error.strerror or error}") from None
    said(f"wrote {path}: {_count(len(found.rows), 'row')}")


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table(console: Console, found: Results, sort: Optional[str], everything: bool, shown_dir: str) -> None:
    """One row per run (the first :data:`TABLE_UP_TO` unless ``everything``); with ``sort`` the best row
    marked, and below, per swept key, the best row of each of its values."""
    rows = found.rows if everything else found.rows[:TABLE_UP_TO]
    grid = Table()
    for column in found.columns:
        grid.add_column(column, no_wrap=True, justify="right" if column in found.numbers else "left")
    key = sort.lstrip("-") if sort else None
    best = found.rows[0] if key and found.rows and results_.number(found.rows[0].get(key)) is not None else None
    for row in rows:
        grid.add_row(*(_cell(row, column) for column in found.columns), style="bold green" if row is best else None)
    console.print(f"{shown_dir}: {_count(len(found.rows), 'run')}" + (f", sorted by {sort}" if sort else ""),
                  highlight=False)
    console.print(grid)
    if len(rows) < len(found.rows):
        console.print(f"... {len(found.rows) - len(rows)} more rows (--all shows them; --csv FILE and --json "
                      "hold every row)", highlight=False)
    if best is None:
        return
    console.print(f"best: {best.ref} {key}={_shown(best.get(key))}", highlight=False)
    for swept, values in found.best_by(key).items():
        said = ", ".join(f"{value} {_shown(row.get(key))} ({row.ref})" for value, row in values[:BEST_UP_TO])
        more = f", ... {len(values) - BEST_UP_TO} more" if len(values) > BEST_UP_TO else ""
        console.print(f"best {key} by {swept}: {said}{more}", highlight=False)


def _cell(row: Row, column: str) -> str:
    if column == "duration":
        return "" if row.duration is None else f"{row.duration:.1f}s"
    return _shown(row.get(column))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def add_parser(commands: Any, handler: Any) -> None:
    parser = commands.add_parser(
        "results", help="which run was best: a table, a CSV/JSON/Parquet file, a plot",
        usage="hydraflow results [-h] DIR [--sort [-]KEY] [--where KEY=VALUE ...] [--all] [--json] [--csv FILE] "
        "[--parquet FILE] [--plot X --y KEY --out FILE.png|.svg]",
        description="Read what every run of a sweep (or of a hydraflow run directory) returned, and show "
        "one row per run: its swept values, state, returned numbers and duration.",
    )
    parser.add_argument("directory", metavar="DIR", help="a sweep directory or a hydraflow run directory")
    parser.add_argument("--sort", metavar="KEY", help="sort by a column (--sort=-KEY: descending); marks the best "
                        "row and names the best of each swept value")
    parser.add_argument("--where", metavar="KEY=VALUE", action="append", help="only rows where KEY is VALUE "
                        "(numbers compared as numbers; repeat for several)")
    parser.add_argument("--all", action="store_true", help=f"every row in the table (default: the first "
                        f"{TABLE_UP_TO})")
    parser.add_argument("--json", action="store_true", help="one JSON document, every row")
    parser.add_argument("--csv", metavar="FILE", help="write every row to a CSV file")
    parser.add_argument("--parquet", metavar="FILE", help="write every row to a Parquet file (needs pyarrow)")
    parser.add_argument("--plot", metavar="X", help="plot --y KEY against the swept key X, into --out FILE")
    parser.add_argument("--y", metavar="KEY", help="the column to plot")
    parser.add_argument("--out", metavar="FILE", help="the picture: FILE.png or FILE.svg")
    parser.set_defaults(handler=handler)
