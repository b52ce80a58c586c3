"""``hydraflow run JOB --resume``: the job's last run, continued in its own directory.

A batch is known by its own values (``batch`` and ``zip``; the Nth batch with
the same values is the Nth one recorded). One that completed earlier with the
same arguments is not run again. One that did not, or whose ``args`` changed,
runs again under its recorded number and directory, resumed inside
(``hydra.launcher.resume=true``) when its app recorded a hydraflow manifest
there. A new batch gets the next number after every recorded one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from hydraflow_core import manifest
from hydraflow_core.jobs.batches import OUTPUT_ROOT, Batch, Plan, batch_name
from hydraflow_core.manifest import COMPLETED, RunRecord, SweepState

#: What a batch whose app used the hydraflow launcher gets, to run only what did not complete inside it.
RESUME = "hydra.launcher.resume=true"


def last_run(directory: Path, job: str) -> Optional[Path]:
    """The run directory of ``job``'s latest run under ``directory`` (the job file's), if any."""
    latest: Optional[Tuple[float, Path]] = None
    for run_dir in (directory / OUTPUT_ROOT / job).iterdir() if (directory / OUTPUT_ROOT / job).is_dir() else ():
        try:
            header = manifest.read_header(run_dir)
        except (OSError, ValueError):
            continue
        if header.get("kind") == "job" and header.get("job") == job:
            created = float(header.get("created") or 0)
            if latest is None or created > latest[0]:
                latest = (created, run_dir)
    return latest[1] if latest else None


@dataclass(frozen=True)
class Resumed:
    plan: Plan  # the batches to run: earlier ones under their recorded number and directory, new ones after
    skipped: Tuple[RunRecord, ...]  # batches that completed earlier with the same arguments: not run again


def resume(plan: Plan, state: SweepState, directory: Path) -> Resumed:
    """``plan`` (made with the earlier run's id) against the earlier run's recorded batches."""
    recorded: Dict[Tuple[str, ...], List[RunRecord]] = {}
    for record in state.runs:
        recorded.setdefault(tuple(record.extra.get("batch") or ()), []).append(record)
    next_index = 1 + max((r.number for r in state.runs), default=-1)
    width = len(str(next_index + len(plan.batches)))
    to_run: List[Batch] = []
    skipped: List[RunRecord] = []
    for batch in plan.batches:
        found = recorded.get(batch.grid)
        record = found.pop(0) if found else None
        if record is None:
            placed = _placed(batch, next_index, batch_name(next_index, width, batch.grid))
            next_index += 1
        else:
            placed = _placed(batch, record.number, str(record.extra.get("name") or batch.name))
            if record.state == COMPLETED and list(placed.arguments) == [a for a in record.overrides if a != RESUME]:
                skipped.append(record)
                continue
            if manifest.has_manifest(directory / placed.sweep_dir) and RESUME not in placed.arguments:
                placed = dataclasses.replace(placed, arguments=(*placed.arguments, RESUME))
        to_run.append(placed)
    return Resumed(dataclasses.replace(plan, batches=tuple(to_run)), tuple(skipped))


def _placed(batch: Batch, index: int, name: str) -> Batch:
    """``batch`` as number ``index`` in directory ``name`` (its generated ``hydra.sweep.dir`` follows)."""
    sweep_dir = f"{batch.sweep_dir.rsplit('/', 1)[0]}/{name}"
    generated = f"hydra.sweep.dir={batch.sweep_dir}"
    arguments = tuple(f"hydra.sweep.dir={sweep_dir}" if a == generated else a for a in batch.arguments)
    return dataclasses.replace(batch, index=index, name=name, sweep_dir=sweep_dir, arguments=arguments)


def said(job: str, run_dir: str, resumed: Resumed) -> str:
    """One line: what the resumed job takes from its last run, and what it runs."""
    count = len(resumed.plan.batches)
    return (f"{job}: resuming {run_dir}: {len(resumed.skipped)} batch(es) completed there earlier are not run "
            f"again; {count} to run")
