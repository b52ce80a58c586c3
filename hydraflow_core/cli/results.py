"""``hydraflow results DIR``: which run was best, as a table, a file (CSV, JSON, Parquet) and a picture."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from rich.console import Console
from rich.table import Table

from hydraflow_core import results as results_
from hydraflow_core.errors import UsageError
from hydraflow_core.results import Results, Row

#: Rows the table shows unless --all (the files and --json hold every row).
TABLE_UP_TO = 50


def results_verb(args: argparse.Namespace, directory: Path, console: Console) -> int:
    found = results_.read(directory)
    found = found.where(args.where or [])
    if args.sort:
        found = found.sorted(args.sort)
    if args.plot or args.y or args.out:
        from hydraflow_core.cli.plot import plot

        if not (args.plot and args.y and args.out):
            raise UsageError("--plot X --y KEY --out FILE.png: all three together (e.g. --plot lr --y loss "
                             "--out loss.png)")
        plot(found, found.known(args.plot, "--plot"), found.known(args.y, "--y"), Path(args.out))
        console.print(f"wrote {args.out}: {args.y} against {args.plot}", highlight=False)
    if args.csv:
        write_csv(found, Path(args.csv))
    if args.parquet:
        write_parquet(found, Path(args.parquet))
    if args.json:
        console.file.write(json.dumps(as_json(found, args.sort)) + "\n")
    elif not (args.plot or args.csv or args.parquet):
        table(console, found, args.sort, args.all, args.directory)
    return 0


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
    best = found.rows[0] if sort and found.rows and found.rows[0].get(sort.lstrip("-")) is not None else None
    for row in rows:
        cells = [_cell(row, column) for column in found.columns]
        grid.add_row(*cells, style="bold green" if row is best else None)
    console.print(f"{shown_dir}: {_count(len(found.rows), 'run')}" + (f", sorted by {sort}" if sort else ""),
                  highlight=False)
    console.print(grid)
    if len(rows) < len(found.rows):
        console.print(f"... {len(found.rows) - len(rows)} more rows (--all shows them; --csv FILE and --json "
                      "hold every row)", highlight=False)
    if best is not None:
        key = sort.lstrip("-")
        console.print(f"best: #{best.number}" + (f" ({best.batch})" if best.batch else "")
                      + f" {key}={_shown(best.get(key))}", highlight=False)
        for swept, values in found.best_by(key).items():
            if len(values) > 1:
                said = ", ".join(f"{value} {_shown(row.get(key))} (#{row.number})" for value, row in values)
                console.print(f"best {key} by {swept}: {said}", highlight=False)


def _cell(row: Row, column: str) -> str:
    if column == "duration":
        return "" if row.duration is None else f"{row.duration:.1f}s"
    return _shown(row.get(column))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def records(found: Results) -> List[Dict[str, Any]]:
    """One flat record per row, the table's columns and ``output_dir`` (for CSV and Parquet)."""
    out = []
    for row in found.rows:
        record = {column: row.get(column) for column in found.columns}
        record["output_dir"] = row.output_dir
        out.append(record)
    return out


def write_csv(found: Results, path: Path) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=[*found.columns, "output_dir"])
        writer.writeheader()
        writer.writerows(records(found))


def write_parquet(found: Results, path: Path) -> None:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UsageError("--parquet needs pyarrow, which is not installed here: pip install pyarrow "
                         "(--csv FILE needs nothing)") from None
    rows = records(found)
    columns = {column: [_parquet_value(r[column]) for r in rows] for column in [*found.columns, "output_dir"]}
    pyarrow.parquet.write_table(pyarrow.table(columns), str(path))


def _parquet_value(value: Any) -> Any:
    """One type per column for Parquet: numbers stay numbers, anything else text."""
    return value if value is None or isinstance(value, (int, float)) else str(value)


def as_json(found: Results, sort: Optional[str]) -> Dict[str, Any]:
    """``hydraflow results --json``: the README's "Results" names every field."""
    return {
        "directory": str(found.directory), "kind": found.kind, "columns": found.columns, "swept": found.swept,
        "numbers": found.numbers, "sort": sort,
        "rows": [{"number": row.number, "batch": row.batch, "params": row.params, "state": row.state,
                  "values": row.values, "duration": row.duration, "output_dir": row.output_dir}
                 for row in found.rows],
    }


def add_parser(commands: Any, handler: Any) -> None:
    parser = commands.add_parser(
        "results", help="which run was best: a table, a CSV/JSON/Parquet file, a plot",
        description="Read what every run of a sweep (or of a hydraflow run directory) returned, and show "
        "one row per run: its swept values, state, returned numbers and duration.",
    )
    parser.add_argument("directory", metavar="DIR", help="a sweep directory or a hydraflow run directory")
    parser.add_argument("--sort", metavar="KEY", help="sort by a column (-KEY: descending); marks the best row")
    parser.add_argument("--where", metavar="KEY=VALUE", action="append", help="only rows where KEY is VALUE")
    parser.add_argument("--all", action="store_true", help=f"every row in the table (default: the first "
                        f"{TABLE_UP_TO})")
    parser.add_argument("--json", action="store_true", help="one JSON document, every row")
    parser.add_argument("--csv", metavar="FILE", help="write every row to a CSV file")
    parser.add_argument("--parquet", metavar="FILE", help="write every row to a Parquet file (needs pyarrow)")
    parser.add_argument("--plot", metavar="X", help="plot --y KEY against the swept key X, into --out FILE")
    parser.add_argument("--y", metavar="KEY", help="the column to plot")
    parser.add_argument("--out", metavar="FILE", help="the picture: FILE.png or FILE.svg")
    parser.set_defaults(handler=handler)
