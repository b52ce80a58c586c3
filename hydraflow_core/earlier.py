"""An earlier sweep in the directory a sweep launches into: resumed (``resume=true``) or moved aside whole.

A directory never holds two runs. With ``hydra.launcher.resume=true`` the new
sweep joins the earlier one's manifest: a run whose overrides equal those of
a run that completed there is not run again (its record, directory and
value stand), one that did not complete runs again under its own number and
directory, and a new run gets the next number after every recorded one.
Without it the earlier sweep -- its manifest and every run directory it
recorded inside the sweep directory -- moves whole to ``earlier/<time>/``,
itself a sweep directory that ``hydraflow status`` reads.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from hydraflow_core import manifest
from hydraflow_core.errors import HydraflowError
from hydraflow_core.manifest import COMPLETED, RunRecord, SweepState
from hydraflow_core.plan import Run

#: Where an earlier sweep is moved, inside the sweep directory.
EARLIER = "earlier"

log = logging.getLogger(__name__)


def key(overrides: Sequence[str]) -> Tuple[str, ...]:
    """What makes two runs the same run: their overrides, in any order."""
    return tuple(sorted(overrides))


def settled(sweep_dir: Path) -> SweepState:
    """The earlier sweep's state, Slurm's word folded in; refused while any of its runs is still under way."""
    from hydraflow_core.executors.slurm.folded import apply_slurm

    state = manifest.read(sweep_dir)
    apply_slurm(state)
    active = [run for run in state.runs if run.state in manifest.ACTIVE]
    if active:
        first = active[0]
        where = f" in task {first.job_id}" if first.job_id else ""
        raise HydraflowError(
            f"{sweep_dir} holds a sweep still under way ({len(active)} runs pending or running, e.g. "
            f"#{first.number}{where}): wait for it (hydraflow status --watch {sweep_dir}), cancel it "
            f"(hydraflow cancel {sweep_dir}), or sweep into another directory")
    return state


@dataclass
class Earlier:
    """The runs a sweep directory's manifest recorded, by their overrides (:func:`key`)."""

    records: Dict[Tuple[str, ...], List[RunRecord]]
    next_number: int  # the number a new run gets
    renumbered: Dict[int, int] = field(default_factory=dict)  # a placed run's number in the plan -> its number here
    skipped: int = 0  # runs placed that completed earlier
    again: int = 0  # runs placed that were recorded, did not complete, and run again

    @classmethod
    def of(cls, state: SweepState) -> "Earlier":
        records: Dict[Tuple[str, ...], List[RunRecord]] = {}
        for run in state.runs:
            records.setdefault(key(run.overrides), []).append(run)
        return cls(records, 1 + max((run.number for run in state.runs), default=-1))

    def place(self, runs: Iterable[Run]) -> Iterator[Tuple[Run, Optional[RunRecord]]]:
        """Each run numbered as this sweep runs it, with the record of the run that completed it earlier
        (not to run again), or None (to run: under its recorded number, or the next free one)."""
        for run in runs:
            found = self.records.get(key(run.overrides))
            record = found.pop(0) if found else None  # equal overrides twice in a plan: two runs
            if record is None:
                number = self.next_number
                self.next_number += 1
            else:
                number = record.number
            self.renumbered[run.number] = number
            placed = Run(number, run.overrides, run.group, run.resources)
            if record is not None and record.state == COMPLETED:
                self.skipped += 1
                yield placed, record
            else:
                self.again += record is not None
                yield placed, None

    def said(self, sweep_dir: str, to_run: int) -> str:
        """One line: what the resumed sweep takes from the earlier one, and what it runs."""
        again = f", {self.again} of them again" if self.again else ""
        return (f"hydraflow: resuming the sweep in {sweep_dir}: {self.skipped} run(s) completed there earlier and "
                f"are not run again; {to_run} to run{again}")


def set_aside(state: SweepState) -> Path:
    """Move the earlier sweep whole (its manifest, its run directories inside the sweep directory) to
    ``earlier/<time>/``; its path."""
    sweep_dir = Path(state.sweep_dir).absolute()
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    target = sweep_dir / EARLIER / stamp
    if target.exists():
        target = target.with_name(f"{stamp}-{os.getpid()}")
    target.mkdir(parents=True)
    tops = {manifest.DIR_NAME}
    for run in state.runs:
        top = _top(sweep_dir, run.output_dir)
        if top is not None and top != EARLIER:
            tops.add(top)
    for top in sorted(tops):
        if (sweep_dir / top).exists():
            os.rename(sweep_dir / top, target / top)
    counts = ", ".join(f"{n} {s}" for s, n in state.counts().items()) or "no runs"
    log.warning(f"hydraflow: {sweep_dir} held an earlier sweep ({counts}): moved it whole to "
                f"{target.relative_to(sweep_dir)}/ (hydra.launcher.resume=true would have continued it)")
    return target


def _top(sweep_dir: Path, path: Optional[str]) -> Optional[str]:
    """The entry of ``sweep_dir`` that holds ``path``; None when it lies elsewhere."""
    if not path:
        return None
    try:
        parts = Path(path).absolute().relative_to(sweep_dir).parts
    except ValueError:
        return None
    return parts[0] if parts else None
