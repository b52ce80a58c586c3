"""A sweep's results as rows: each run's swept values, its state, the numbers it returned, its duration.

``hydraflow results`` reads them from the manifest (a plugin sweep, behind
any sweeper) or from each batch's manifest (a ``hydraflow run`` directory).
A run's numbers are what it returned (a mapping or dataclass: one column per
key, nested keys joined with dots; a plain number: ``value``) and, for a run
that returned nothing, the mapping it wrote to ``results.json`` in its output
directory. Everything here is plain data: the CLI prints, writes and draws it.
"""

from __future__ import annotations

import gc
import json
import math
import os
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydraflow_core import manifest
from hydraflow_core.errors import UsageError
from hydraflow_core.manifest import COMPLETED, RunRecord

#: What a run that returned nothing may write into its output directory: a mapping of numbers.
RESULTS_FILE = "results.json"
#: The column of a plain number a run returned.
VALUE = "value"
#: Text a run returned is kept up to this length (a label, "inf"); longer text is left out.
TEXT_UP_TO = 80


@dataclass(eq=False, slots=True)  # 10^5 of them
class Row:
    number: int  # the run's number in its sweep (in its batch, for a `hydraflow run` job)
    params: Dict[str, str]  # each override's key -> its value as the run got it (text)
    state: str
    values: Dict[str, Any]  # the numbers it returned (and wrote to results.json), flat: 'acc.top1'
    duration: Optional[float]  # seconds
    output_dir: Optional[str]
    batch: Optional[str] = None  # a `hydraflow run` job's batch (its directory name)

    def get(self, key: str) -> Any:
        """The row's value of column ``key`` (a returned number, a swept key, state, duration, #, batch)."""
        values, params = self.values, self.params
        if key in values:
            return values[key]
        if key in params:
            return params[key]
        if key == "state":
            return self.state
        if key == "duration":
            return self.duration
        if key in ("#", "number"):
            return self.number
        return self.batch if key == "batch" else None

    @property
    def ref(self) -> str:
        """How a line names the row: ``#3``, or ``1-model-large #3`` in a job."""
        return f"{self.batch} #{self.number}" if self.batch else f"#{self.number}"


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
            if not sep or not key.strip():
                raise UsageError(f"--where {condition}: expected KEY=VALUE (e.g. --where model=small)")
            key, wanted = self.known(key.strip(), "--where"), wanted.strip()
            rows = [row for row in rows if _equal(row.get(key), wanted)]
        return Results(self.directory, self.kind, rows, self.swept, self.numbers)

    def sorted(self, key: str) -> "Results":
        """Rows by column ``key`` (``-KEY``: descending); rows without it (or NaN) last, in run order."""
        descending = key.startswith("-")
        key = self.known(key.lstrip("-"), "--sort")
        keyed = [(_sortable(row.get(key)), row) for row in self.rows]
        having = [pair for pair in keyed if pair[0] is not None]
        having.sort(key=itemgetter(0), reverse=descending)  # stable: ties stay in run order
        missing = [row for order, row in keyed if order is None]
        return Results(self.directory, self.kind, [row for _, row in having] + missing, self.swept, self.numbers)

    def best_by(self, key: str) -> Dict[str, List[Tuple[str, Row]]]:
        """Per swept key other than ``key``, each of its values with its best row: the first row with a value
        for ``key`` (sort with :meth:`sorted` first). Only keys with a value two such rows share: with one
        value, or one row per value (a continuous key of Optuna's), there is nothing to compare."""
        key = key.lstrip("-")
        ranked = [row for row in self.rows if _sortable(row.get(key)) is not None]
        out: Dict[str, List[Tuple[str, Row]]] = {}
        for swept in self.swept:
            if swept == key:
                continue
            seen: Dict[str, Row] = {}
            having = 0
            for row in ranked:
                value = row.params.get(swept)
                if value is not None:
                    having += 1
                    seen.setdefault(value, row)
            if 1 < len(seen) < having:
                out[swept] = sorted(seen.items(), key=lambda item: _sortable(item[0]))
        return out


def read(directory: Path) -> Results:
    """The results of the sweep or ``hydraflow run`` directory at ``directory``."""
    collecting = gc.isenabled()
    gc.disable()  # 10^5 rows of small dicts, no cycles: the collector would only cost time
    try:
        return _read(directory)
    finally:
        if collecting:
            gc.enable()


def _read(directory: Path) -> Results:
    state = manifest.read(directory)
    if state.header.get("kind") != "job":
        return _results(directory, "sweep", _rows(state.runs))
    rows: List[Row] = []
    base = Path(state.header.get("directory") or directory)
    for batch in state.runs:
        name = str(batch.extra.get("name") or batch.number)
        sweep_dir = _batch_dir(directory, base, batch.extra.get("sweep_dir"), name)
        if sweep_dir is not None:
            rows.extend(_rows(manifest.read(sweep_dir).runs, name))
        else:  # its app kept no manifest (another launcher, a submit job): one row, the batch's own values
            rows.extend(_rows([batch], name, overrides=batch.extra.get("batch") or ()))
    return _results(directory, "job", rows)


def _batch_dir(directory: Path, base: Path, sweep_dir: Any, name: str) -> Optional[Path]:
    """Where a batch's own manifest is: its recorded place (relative to the job's working directory), or,
    for a job directory moved since, the batch's directory inside it."""
    if not sweep_dir:
        return None
    for candidate in (base / str(sweep_dir), directory / name):
        if manifest.has_manifest(candidate):
            return candidate
    return None


def _rows(records: Sequence[RunRecord], batch: Optional[str] = None,
          overrides: Optional[Sequence[str]] = None) -> List[Row]:
    fixed = None if overrides is None else params(overrides)
    out = []
    for record in records:
        returned = record.extra.get("return_value")
        if returned is None and record.state == COMPLETED and record.output_dir:
            returned = _results_file(record.output_dir)
        started, ended = record.started, record.ended
        out.append(Row(record.number, params(record.overrides) if fixed is None else fixed, record.state,
                       flat(returned), ended - started if ended and started else None, record.output_dir, batch))
    return out


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
    varies = set()
    common: Optional[set] = None  # the keys every row has
    numbers: Dict[str, None] = {}
    for row in rows:
        found = row.params
        for key, value in found.items():
            if key not in varies and first.setdefault(key, value) != value:
                varies.add(key)
        if common is None:
            common = set(found)
        elif found.keys() != common:
            common &= found.keys()
        if row.values:
            numbers.update(dict.fromkeys(row.values))
    swept = [key for key in first if key in varies or key not in (common or ()) or len(rows) == 1]
    return Results(directory, kind, rows, swept, list(numbers))


def params(overrides: Sequence[str]) -> Dict[str, str]:
    """``key -> value`` of a run's overrides (``+``/``++`` dropped; deletions and Hydra's own keys left out)."""
    out = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if sep and key[:1] == "+":
            key = key.lstrip("+")
        if sep and key and not key.startswith(("~", "hydra.", "hydra/")):
            out[key] = value
    return out


def flat(returned: Any) -> Dict[str, Any]:
    """The columns of what a run returned (see :func:`flatten`); a flat mapping of numbers, quickly."""
    if returned is None:
        return {}
    out: Dict[str, Any] = {}
    if type(returned) is dict:
        for key, value in returned.items():
            if type(value) is int or (type(value) is float and math.isfinite(value)):
                out[key] = value
            else:
                flatten(value, f"{key}.", out)
    else:
        flatten(returned, "", out)
    return out


def flatten(value: Any, prefix: str, into: Dict[str, Any]) -> None:
    """Numbers (and short text) of a returned value, nested keys joined with dots; a plain value is ``value``.
    A number given as text is a number; NaN and infinities stay text ("nan", "inf"), as JSON has them."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}{key}.", into)
        return
    name = prefix[:-1] if prefix else VALUE
    if isinstance(value, float) and not math.isfinite(value):
        into[name] = str(value)
    elif isinstance(value, (bool, int, float)):
        into[name] = value
    elif isinstance(value, str) and len(value) <= TEXT_UP_TO:
        found = number(value)
        into[name] = found if found is not None and math.isfinite(found) else value


def number(text: Any) -> Optional[float]:
    """``text`` as a number (a bool is none), or None."""
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
