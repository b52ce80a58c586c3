"""``hydraflow status DIR``: what a sweep (or a ``hydraflow run`` directory) did, at a glance."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from rich.console import Console
from rich.table import Table

from hydraflow_core import manifest
from hydraflow_core.manifest import COMPLETED, FAILED, INTERRUPTED, LOST, PENDING, PLANNED, RUNNING, SweepState

#: Sweeps up to this many runs get a table of every run; larger ones counts and the unfinished runs.
TABLE_UP_TO = 50
#: Unfinished runs listed by name for a large sweep.
LISTED = 20
_STYLE = {COMPLETED: "green", FAILED: "bold red", LOST: "bold red", INTERRUPTED: "yellow",
          RUNNING: "cyan", PENDING: "blue", PLANNED: "dim", "requeued": "blue", "cancelled": "yellow",
          "timed out": "bold red", "out of memory": "bold red", "node fail": "bold red", "preempted": "yellow"}
WATCH_SECONDS = 2.0


#: How Slurm's end states show for a run that has no end record of its own.
SLURM_ENDED = {"CANCELLED": "cancelled", "TIMEOUT": "timed out", "OUT_OF_MEMORY": "out of memory",
               "NODE_FAIL": "node fail", "PREEMPTED": "preempted", "FAILED": "failed", "BOOT_FAIL": "node fail",
               "DEADLINE": "timed out", "COMPLETED": "lost", "REVOKED": "cancelled", "SPECIAL_EXIT": "failed"}
ORDER = (*manifest.STATES, "requeued", "cancelled", "timed out", "out of memory", "node fail", "preempted")


def counts_line(state: SweepState) -> str:
    counts = state.counts()
    order = [s for s in ORDER if s in counts] + [s for s in counts if s not in ORDER]
    return ", ".join(f"{counts[s]} {s}" for s in order) or "no runs"


def apply_slurm(state: SweepState) -> Optional[str]:
    """Fold in what Slurm says of a Slurm sweep's tasks (one sacct call); a note for the reader, if any.

    A run's own end record always wins; a run without one takes its task's
    state: pending or running while Slurm has it queued or running, requeued,
    and cancelled, timed out, out of memory, node fail ... once Slurm says the
    task ended (its error then says so).
    """
    from hydraflow_core.executors.slurm.query import ENDED_STATES, sacct_states, squeue_states, task_of_runs

    tasks = task_of_runs(state.sweep_dir)
    if not tasks:
        return None
    arrays = {job.split("_")[0] for job in tasks.values()}
    states = sacct_states(arrays)
    note = None
    if states is None:  # no accounting on this cluster: the queue alone, and the manifest
        states = squeue_states(arrays)
        note = "sacct is not available: states come from the manifest and squeue"
        if states is None:
            return "neither sacct nor squeue answered: states come from the manifest alone"
        gone = "gone"
    else:
        gone = None
    for run in state.runs:
        if run.state in (manifest.COMPLETED, manifest.FAILED):
            continue  # its own end record says it all
        job = tasks.get(run.number)
        if job is None:
            continue
        slurm_state = states.get(job, gone)
        if slurm_state is None:
            continue
        run.job_id = run.job_id or job
        if run.state == manifest.INTERRUPTED:  # stopped by Slurm's signal: say why, or that it comes back
            if slurm_state in ENDED_STATES:
                run.state = SLURM_ENDED.get(slurm_state, "failed") if slurm_state != "COMPLETED" else run.state
                run.error = f"Slurm says task {job} ended ({slurm_state}); the run was {run.error or 'stopped'}"
            elif slurm_state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "RUNNING"):
                run.state = "requeued"
            continue
        if slurm_state == "PENDING":
            run.state = manifest.PENDING
        elif slurm_state in ("RUNNING", "COMPLETING", "CONFIGURING"):
            run.state = manifest.RUNNING if run.state == manifest.RUNNING or run.started else manifest.PENDING
        elif slurm_state in ("REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"):
            run.state = "requeued"
        elif slurm_state == "gone":  # squeue no longer has it, and the run never ended
            run.state = manifest.LOST
            run.error = f"Slurm task {job} is no longer queued, and the run has no end record"
        elif slurm_state in ENDED_STATES:
            run.state = SLURM_ENDED.get(slurm_state, "failed")
            run.error = f"Slurm says task {job} ended ({slurm_state}), but the run has no end record"
    return note


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
    if not (manifest.manifest_dir(path) / "manifest.json").exists():
        return ""
    try:
        return counts_line(manifest.read(path))
    except Exception:  # an unreadable inner sweep must not hide the outer one
        return "?"


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
        return
    unfinished = [r for r in state.runs if r.state != COMPLETED]
    if unfinished:
        console.print(f"not completed ({len(unfinished)}):", highlight=False)
    for run in unfinished[:LISTED]:
        style = _STYLE.get(run.state, "")
        detail = f" — {run.error}" if run.error else ""
        console.print(f"  #{run.number} [{style}]{run.state}[/] {_what(run, kind)}{detail}", highlight=False)
        if run.log and run.state in (FAILED, LOST):
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
        "runs": [run.as_json() for run in state.runs],
    }


def status(directory: Path, console: Console, *, as_json_output: bool = False, watch: bool = False,
           shown: Optional[str] = None) -> int:
    """Print the state; 0 when every run completed, 1 otherwise. ``watch``: refresh until all ended."""
    shown = shown or str(directory)
    while True:
        state = manifest.read(directory)
        note = apply_slurm(state)
        active = any(r.state in (RUNNING, PENDING, "requeued") for r in state.runs)
        if as_json_output:
            console.file.write(json.dumps(as_json(state)) + "\n")
        else:
            if watch and console.is_terminal:
                console.clear()
            render(console, state, shown)
            if note:
                console.print(f"note: {note}", highlight=False)
        if not (watch and active):
            return 0 if state.complete else 1
        time.sleep(WATCH_SECONDS)


def unfinished(state: SweepState, failed_only: bool = False) -> List[manifest.RunRecord]:
    """The runs a retry runs: every run that did not complete (``failed_only``: failed and lost)."""
    if failed_only:
        return [r for r in state.runs if r.state in (FAILED, LOST, "timed out", "out of memory", "node fail")]
    return [r for r in state.runs if r.state != COMPLETED]
