"""A sweep's results as rows: each run's swept values, its state, the numbers it returned, its duration.

``hydraflow results`` reads them from the manifest (a plugin sweep, behind
any sweeper) or from each batch's manifest (a ``hydraflow run`` directory).
A run's numbers are what it returned (a mapping or dataclass: one column per
key, nested keys joined with dots; a plain number: ``value``) and, for a run
that returned nothing, the mapping it wrote to ``results.json`` in its output
directory. Everything here is plain data: the CLI prints, writes and draws it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from hydraflow_core import manifest
from hydraflow_core.errors import UsageError
from hydraflow_core.manifest import COMPLETED, RunRecord

#: What a run that returned nothing may write into its output directory: a mapping of numbers.
RESULTS_FILE = "results.json"
#: The column of a plain number a run returned.
VALUE = "value"


@dataclass
class Row:
    number: int  # the run's number in its sweep
    params: Dict[str, str]  # each override's key -> its value as the run got it (text)
    state: str
    values: Dict[str, Any]  # the numbers it returned (and wrote to results.json), flat: 'acc.top1'
    duration: Optional[float]  # seconds
    output_dir: Optional[str]
    batch: Optional[str] = None  # a `hydraflow run` job's batch (its directory name)

    def get(self, key: str) -> Any:
        """The row's value of column ``key`` (a swept key, a returned number, state, duration, #, batch)."""
        if key in self.values:
            return self.values[key]
        if key in self.params:
            return self.params[key]
        return {"state": self.state, "duration": self.duration, "#": self.number, "number": self.number,
                "batch": self.batch}.get(key)


@dataclass
class Results:
    directory: Path
    kind: str  # "sweep" or "job"
    rows: List[Row]
    swept: List[str] = field(default_factory=list)  # keys whose value differs between runs, in override order
    numbers: List[str] = field(default_factory=list)  # returned keys, in the order first seen

    @property
    def columns(self) -> List[str]:
        return [*(["batch"] if self.kind == "job" else []), "#", *self.swept, "state", *self.numbers, "duration"]

    def known(self, key: str, option: str) -> str:
        """``key`` when it names a column; else a usage error listing them."""
        if key in self.columns or key == "number":
            return key
        raise UsageError(f"{option} {key}: no such column; the columns are: {', '.join(self.columns)}")

    def where(self, conditions: Sequence[str]) -> "Results":
        """Only the rows whose column has the value (``KEY=VALUE``, numbers compared as numbers)."""
        rows = self.rows
        for condition in conditions:
            key, sep, wanted = condition.partition("=")
            if not sep or not key:
                raise UsageError(f"--where {condition}: expected KEY=VALUE (e.g. --where model=small)")
            key = self.known(key.strip(), "--where")
            rows = [row for row in rows if _equal(row.get(key), wanted.strip())]
        return Results(self.directory, self.kind, rows, self.swept, self.numbers)

    def sorted(self, key: str) -> "Results":
        """Rows by column ``key`` (``-KEY``: descending); rows without it last, in run order."""
        descending = key.startswith("-")
        key = self.known(key.lstrip("-"), "--sort")
        having = [row for row in self.rows if _sortable(row.get(key)) is not None]
        missing = [row for row in self.rows if _sortable(row.get(key)) is None]
        having.sort(key=lambda row: _sortable(row.get(key)), reverse=descending)
        return Results(self.directory, self.kind, having + missing, self.swept, self.numbers)

    def best_by(self, key: str) -> Dict[str, List[Tuple[str, Row]]]:
        """Per swept key, each of its values with its best row (rows sorted by :meth:`sorted` first)."""
        key = key.lstrip("-")
        out: Dict[str, List[Tuple[str, Row]]] = {}
        for swept in self.swept:
            seen: Dict[str, Row] = {}
            for row in self.rows:  # sorted: the first row of a value is its best
                value = row.params.get(swept)
                if value is not None and value not in seen and _sortable(row.get(key)) is not None:
                    seen[value] = row
            out[swept] = sorted(seen.items(), key=lambda item: _sortable(item[0]))
        return out


def read(directory: Path) -> Results:
    """The results of the sweep or ``hydraflow run`` directory at ``directory``."""
    state = manifest.read(directory)
    if state.header.get("kind") == "job":
        rows = []
        base = Path(state.header.get("directory") or directory)
        for batch in state.runs:
            sweep_dir = base / str(batch.extra.get("sweep_dir") or "")
            name = str(batch.extra.get("name") or batch.number)
            if batch.extra.get("sweep_dir") and manifest.has_manifest(sweep_dir):
                rows.extend(_rows(manifest.read(sweep_dir).runs, name))
            else:  # its app kept no manifest: one row for the batch, its own values as columns
                rows.extend(_rows([batch], name, overrides=batch.extra.get("batch") or ()))
        return _results(directory, "job", rows)
    return _results(directory, "sweep", list(_rows(state.runs)))


def _rows(records: Sequence[RunRecord], batch: Optional[str] = None,
          overrides: Optional[Sequence[str]] = None) -> Iterator[Row]:
    for record in records:
        values: Dict[str, Any] = {}
        returned = record.extra.get("return_value")
        if returned is not None:
            flatten(returned, "", values)
        elif record.state == COMPLETED and record.output_dir:
            flatten(_results_file(record.output_dir), "", values)
        duration = record.ended - record.started if record.ended and record.started else None
        yield Row(record.number, params(record.overrides if overrides is None else overrides), record.state,
                  values, duration, record.output_dir, batch)


def _results_file(output_dir: str) -> Any:
    try:
        with open(os.path.join(output_dir, RESULTS_FILE), "rb") as file:
            found = json.load(file)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _results(directory: Path, kind: str, rows: List[Row]) -> Results:
    """The swept keys: those whose value differs between rows, or that some rows lack (all, for one row)."""
    first: Dict[str, str] = {}
    having: Dict[str, int] = {}
    varies = set()
    numbers: Dict[str, None] = {}
    for row in rows:
        for key, value in row.params.items():
            if first.setdefault(key, value) != value:
                varies.add(key)
            having[key] = having.get(key, 0) + 1
        for key in row.values:
            numbers.setdefault(key)
    swept = [key for key in first if key in varies or having[key] < len(rows) or len(rows) == 1]
    return Results(directory, kind, rows, swept, list(numbers))


def params(overrides: Sequence[str]) -> Dict[str, str]:
    """``key -> value`` of a run's overrides (``+``/``++`` dropped; deletions and Hydra's own keys left out)."""
    out = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+")
        if sep and key and not key.startswith(("~", "hydra.", "hydra/")):
            out[key] = value
    return out


def flatten(value: Any, prefix: str, into: Dict[str, Any]) -> None:
    """Numbers (and short text) of a returned value, nested keys joined with dots; a plain value is ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}{key}.", into)
        return
    name = prefix[:-1] if prefix else VALUE
    if isinstance(value, bool) or isinstance(value, (int, float)):
        into[name] = value
    elif isinstance(value, str) and len(value) <= 80:  # "nan", "inf" (recorded as text) stay text
        found = number(value)
        into[name] = found if found is not None and math.isfinite(found) else value


def number(text: Any) -> Optional[float]:
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _sortable(value: Any) -> Optional[Tuple[int, Any]]:
    """Numbers before text, each in its order; None (and NaN) has no place."""
    found = number(value)
    if found is not None:
        return None if math.isnan(found) else (0, found)
    return None if value is None else (1, str(value))


def _equal(value: Any, wanted: str) -> bool:
    found, target = number(value), number(wanted)
    if found is not None and target is not None:
        return found == target
    return value is not None and str(value) == wanted
