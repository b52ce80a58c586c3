"""The launcher's plan before anything runs: each run composed where its Slurm settings depend on it
(per-run resources), and ``hydra.launcher.dry_run``'s report of the whole plan.

A dry run composes every run (a composition error shows before anything is
submitted), then prints, per Slurm array, its settings, task count, %N, runs
per task and sbatch script, and per run its number, overrides and output
directory; locally, every run. It creates no sweep directory, records
nothing, submits and runs nothing.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from omegaconf import OmegaConf

from hydraflow_core.errors import ResourceError
from hydraflow_core.executors.slurm import resources as per_run
from hydraflow_core.plan import Run, Task, pack

from hydraflow_core.cli.reasons import composition_reason
from ._runs import HydraRuns

log = logging.getLogger(__name__)

#: Errors a dry run lists before it gives up (it still counts them all).
ERRORS_SHOWN = 5


class Planner:
    """Runs with their resolved Slurm settings and, for a dry run, where each writes."""

    def __init__(self, launcher: Any) -> None:
        self.launcher = launcher
        self.runs = HydraRuns(launcher.ctx)
        self.fields = launcher.per_run  # fields interpolating each run's config
        self.raw = launcher.settings.slurm

    def resolve(self, run: Run, cfg: Any = None) -> Run:
        """``run`` with its own Slurm settings (composed only when a field depends on the run)."""
        if not self.fields:
            return run
        if cfg is None:
            cfg = self.compose(run)

        def select(name: str) -> Any:
            value = OmegaConf.select(cfg, per_run.PREFIX + name, throw_on_resolution_failure=True,
                                     throw_on_missing=True)
            return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value

        resources = per_run.resolve(run.number, run.overrides, self.fields, select, self.raw)
        return Run(run.number, run.overrides, run.group, resources)

    def compose(self, run: Run) -> Any:
        try:
            return self.runs.prepare_config(run)
        except Exception as error:  # noqa: BLE001 - Hydra's composition errors, any of them
            raise ResourceError(f"{per_run.shown(run.number, run.overrides)} cannot be composed: "
                                f"{composition_reason(error)}") from None

    def resolved(self, runs: Iterable[Run]) -> Iterator[Run]:
        """Every run with its resources, lazily (nothing composed when no field depends on a run)."""
        if not self.fields:
            yield from runs
            return
        for run in runs:
            yield self.resolve(run)


def dry_run(launcher: Any, runs: Iterable[Run], total: Optional[int], out: Any = None) -> None:
    """Compose every run, then print the plan; a run that cannot be composed or resolved raises, listing
    the first :data:`ERRORS_SHOWN` of them."""
    out = out or sys.stdout
    planner = Planner(launcher)
    errors: List[str] = []
    failed = 0
    planned: List[Tuple[Run, str]] = []
    for run in runs:
        try:
            cfg = planner.compose(run)
            output_dir = str(cfg.hydra.runtime.output_dir)
            run = planner.resolve(run, cfg) if launcher.settings.backend == "slurm" else run
        except ResourceError as error:
            failed += 1
            if len(errors) < ERRORS_SHOWN:
                errors.append(str(error))
            continue
        planned.append((run, output_dir))
    if failed:
        more = f" (the first {len(errors)})" if failed > len(errors) else ""
        raise ResourceError(f"dry run: {failed} of {len(planned) + failed} runs cannot be planned{more}:\n"
                            + "\n".join(f"  {e}" for e in errors))
    where = {run.number: output_dir for run, output_dir in planned}
    tasks = list(pack((r for r, _ in planned), launcher.per_task))
    if launcher.settings.backend == "slurm":
        out.write(_slurm_text(launcher, tasks, where))
        site = getattr(launcher, "site", None)  # the user's limits, read by launcher.fitted()
        if site is not None:
            from hydraflow_core.executors.slurm import waves

            planned_waves = waves.plan(len(tasks), site, walk_away=not launcher.settings.wait)
            if planned_waves is not None:
                out.write(waves.said(planned_waves, len(planned), site) + "\n")
    else:
        out.write(_local_text(launcher, tasks, where))
    out.flush()


def _run_line(run: Run, where: Dict[int, str]) -> str:
    return f"#{run.number} {' '.join(run.overrides) or '(no overrides)'} -> {_shown(where[run.number])}"


def _shown(path: str) -> str:
    """``path`` relative to the working directory when it is under it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _local_text(launcher: Any, tasks: Sequence[Task], where: Dict[int, str]) -> str:
    runs = sum(len(t.runs) for t in tasks)
    lines = [f"hydraflow dry run: {runs} runs, locally, {launcher.settings.workers} at a time, "
             f"{launcher.per_task} run(s) per task; nothing is run"]
    lines.extend(_run_line(run, where) for task in tasks for run in task.runs)
    return "\n".join(lines) + "\n"


def _slurm_text(launcher: Any, tasks: Sequence[Task], where: Dict[int, str]) -> str:
    from hydraflow_core.executors.slurm.arrays import arrays_of_settings, sbatch_preview

    base = {k: v for k, v in launcher.settings.slurm.items() if k not in launcher.per_run}
    arrays = arrays_of_settings(tasks, base, launcher.settings.max_parallel)
    runs = sum(len(t.runs) for t in tasks)
    job_name = str(launcher.settings.slurm.get("job_name") or launcher.config.hydra.job.name)
    sweep_dir = str(launcher.config.hydra.sweep.dir)
    lines = [f"hydraflow dry run: {runs} runs in {len(tasks)} task(s), {len(arrays)} Slurm array(s); "
             f"nothing is submitted or run"]
    for index, (settings, members) in enumerate(arrays):
        shown = " ".join(f"{k}={v}" for k, v in sorted(settings.items()) if v not in (None, {}, []))
        lines.append(f"array {index}: {len(members)} task(s), %{settings.get('array_parallelism')}, "
                     f"{launcher.per_task} run(s) per task; {shown}")
        script = sbatch_preview(settings, job_name, len(members), sweep_dir)
        if script:
            lines.append("  sbatch script:")
            lines.extend(f"    {line}" for line in script.splitlines() if line.strip())
        for number, task in enumerate(members):
            lines.append(f"  task {number}:")
            lines.extend(f"    {_run_line(run, where)}" for run in task.runs)
    return "\n".join(lines) + "\n"
