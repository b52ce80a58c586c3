"""``hydraflow status DIR``: what a sweep (or a ``hydraflow run`` directory) did, at a glance."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from rich.console import Console
from rich.table import Table

from hydraflow_core import manifest
from hydraflow_core.executors.slurm.folded import apply_slurm
from hydraflow_core.manifest import COMPLETED, FAILED, INTERRUPTED, LOST, PENDING, PLANNED, RUNNING, SweepState

#: Sweeps up to this many runs get a table of every run; larger ones counts and the unfinished runs.
TABLE_UP_TO = 50
#: Unfinished runs listed by name for a large sweep.
LISTED = 20
_STYLE = {COMPLETED: "green", FAILED: "bold red", LOST: "bold red", INTERRUPTED: "yellow",
          RUNNING: "cyan", PENDING: "blue", PLANNED: "dim", "requeued": "blue", "cancelled": "yellow",
          "timed out": "bold red", "out of memory": "bold red", "node fail": "bold red", "preempted": "yellow"}
WATCH_SECONDS = 2.0


ORDER = manifest.ORDER


def counts_line(state: SweepState) -> str:
    counts = state.counts()
    order = [s for s in ORDER if s in counts] + [s for s in counts if s not in ORDER]
    return ", ".join(f"{counts[s]} {s}" for s in order) or "no runs"


def waiting_line(state: SweepState) -> str:
    """Why pending runs wait: ``4 pending: your limit of 4 running jobs (AssocMaxJobsLimit)``, and the waves
    still to submit; empty if none."""
    from hydraflow_core.executors.slurm import pending

    from hydraflow_core.executors.slurm.waves import to_come

    coming = to_come(*state.to_come) if state.to_come else ""
    reasons = [run.reason for run in state.runs if run.state == PENDING and run.reason]
    if not reasons:
        return coming
    return "; ".join(part for part in (pending.explained(reasons), coming) if part)


def _short(path: Optional[str], sweep_dir: Path) -> str:
    return manifest.relative_to(path, sweep_dir) or ""


def _what(run: manifest.RunRecord, kind: str) -> str:
    if kind == "job":
        return str(run.extra.get("name") or run.number)
    return " ".join(run.overrides)


def _inner(run: manifest.RunRecord, state: SweepState) -> str:
    """For a batch of a ``hydraflow run`` whose app used hydraflow: its own runs' counts."""
    sweep_dir = run.extra.get("sweep_dir")
    if not sweep_dir:
        return ""
    path = Path(state.header.get("directory", ".")) / sweep_dir
    if not manifest.has_manifest(path):
        return ""
    try:
        return counts_line(manifest.read(path))
    except Exception:  # an unreadable inner sweep must not hide the outer one
        return "?"


def _batch_runs_hint(console: Console, state: SweepState, shown_dir: str) -> None:
    """Under a job's table: where a batch's own runs (states, logs, return values) are shown."""
    directory = Path(state.header.get("directory", "."))
    for run in state.runs:
        sweep_dir, name = run.extra.get("sweep_dir"), run.extra.get("name")
        if sweep_dir and name and manifest.has_manifest(directory / str(sweep_dir)):
            console.print(f"a batch's runs: hydraflow status {shown_dir.rstrip('/')}/{name}", highlight=False)
            return


def render(console: Console, state: SweepState, shown_dir: str) -> None:
    kind = state.header.get("kind", "sweep")
    noun = "batch" if kind == "job" else "run"
    total = len(state.runs)
    title = state.header.get("job") or ""
    console.print(f"[bold]{shown_dir}[/]" + (f" ({title})" if title else "")
                  + f": {total} {noun}{'es' if noun == 'batch' and total != 1 else '' if total == 1 else 's'}"
                  + f" — {counts_line(state)}", highlight=False)
    if total <= TABLE_UP_TO:
        table = Table()
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column(noun, overflow="fold")
        if kind == "job":
            table.add_column("runs", overflow="fold")
        # Local process ids say little at a glance (--json has them); a scheduler's job ids do.
        show_ids = any(r.job_id and not r.job_id.startswith("local:") for r in state.runs)
        if show_ids:
            table.add_column("job id", no_wrap=True)
        table.add_column("log / error", overflow="fold")
        for run in state.runs:
            style = _STYLE.get(run.state, "")
            note = run.error if run.state != COMPLETED and run.error else _short(run.log, state.sweep_dir)
            row = [str(run.number), f"[{style}]{run.state}[/]", _what(run, kind)]
            if kind == "job":
                row.append(_inner(run, state))
            row += ([run.job_id or ""] if show_ids else []) + [note]
            table.add_row(*row)
        console.print(table)
        if kind == "job":
            _batch_runs_hint(console, state, shown_dir)
        return
    unfinished = [r for r in state.runs if r.state != COMPLETED]
    if unfinished:
        console.print(f"not completed ({len(unfinished)}):", highlight=False)
    for run in unfinished[:LISTED]:
        style = _STYLE.get(run.state, "")
        detail = f" — {run.error}" if run.error else ""
        console.print(f"  #{run.number} [{style}]{run.state}[/] {_what(run, kind)}{detail}", highlight=False)
        if run.log and run.state in (FAILED, LOST, manifest.TIMED_OUT):
            console.print(f"      log: {_short(run.log, state.sweep_dir)}", highlight=False)
    if len(unfinished) > LISTED:
        console.print(f"  ... and {len(unfinished) - LISTED} more (hydraflow status --json for all)",
                      highlight=False)


def as_json(state: SweepState) -> Dict[str, Any]:
    counts = state.counts()
    return {
        "sweep_dir": str(state.header.get("sweep_dir")),
        "kind": state.header.get("kind", "sweep"),
        "counts": counts,
        "complete": state.complete,
        "attempts": len(state.attempts),
        **({"waiting": waiting} if (waiting := waiting_line(state)) else {}),
        **({"to_submit": {"runs": state.to_come[0], "waves": state.to_come[1]}} if state.to_come else {}),
        "runs": [run.as_json() for run in state.runs],
    }


def status(directory: Path, console: Console, *, as_json_output: bool = False, watch: bool = False,
           shown: Optional[str] = None) -> int:
    """Print the state; 0 when every run completed, 1 otherwise. ``watch``: refresh until all ended."""
    shown = shown or str(directory)
    while True:
        state = manifest.read(directory)
        note = apply_slurm(state)
        active = any(r.state in manifest.ACTIVE for r in state.runs)
        if as_json_output:
            console.file.write(json.dumps(as_json(state), separators=(",", ":")) + "\n")
        else:
            if watch and console.is_terminal:
                console.clear()
            render(console, state, shown)
            waiting = waiting_line(state)
            if waiting:
                console.print(f"waiting: {waiting}", highlight=False)
            if note:
                console.print(f"note: {note}", highlight=False)
        if not (watch and active) or getattr(console.file, "gone", False):  # nobody reads on (| head): done
            return 0 if state.complete else 1
        time.sleep(WATCH_SECONDS)


def unfinished(state: SweepState, failed_only: bool = False) -> List[manifest.RunRecord]:
    """The runs a retry runs: every run that did not complete (``failed_only``: those that ended badly,
    the states ``max_retries`` runs again)."""
    if failed_only:
        from hydraflow_core.manifest.states import RETRIED

        return [r for r in state.runs if r.state in RETRIED]
    return [r for r in state.runs if r.state != COMPLETED]
