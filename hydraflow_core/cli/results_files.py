"""``hydraflow results`` as files: every row (not only the table's first) as CSV, Parquet or JSON."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydraflow_core.errors import UsageError
from hydraflow_core.results import Results

#: The column after the table's in CSV and Parquet: where each run wrote.
OUTPUT_DIR = "output_dir"


def records(found: Results) -> List[Dict[str, Any]]:
    """One flat record per row: the table's columns (duration in seconds), then ``output_dir``."""
    columns = found.columns
    out = []
    for row in found.rows:
        record = {column: row.get(column) for column in columns}
        record[OUTPUT_DIR] = row.output_dir
        out.append(record)
    return out


def write_csv(found: Results, path: Path) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=[*found.columns, OUTPUT_DIR])
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
    table = {column: _one_type([record[column] for record in rows]) for column in [*found.columns, OUTPUT_DIR]}
    with open(path, "wb") as file:  # opened here: a path that cannot be written is Python's OSError
        pyarrow.parquet.write_table(pyarrow.table(table), file)


def _one_type(values: List[Any]) -> List[Any]:
    """A Parquet column holds one type: numbers when every value is one (ints stay ints), else text."""
    present = [value for value in values if value is not None]
    if all(type(value) is int for value in present):
        return values
    if all(type(value) in (int, float) for value in present):
        return [None if value is None else float(value) for value in values]
    return [None if value is None else str(value) for value in values]


def as_json(found: Results, sort: Optional[str]) -> Dict[str, Any]:
    """``hydraflow results --json``: the README's "Results" names every field."""
    return {
        "directory": str(found.directory), "kind": found.kind, "columns": found.columns, "swept": found.swept,
        "numbers": found.numbers, "sort": sort,
        "rows": [{"number": row.number, "batch": row.batch, "params": row.params, "state": row.state,
                  "values": row.values, "duration": row.duration, "output_dir": row.output_dir}
                 for row in found.rows],
    }
