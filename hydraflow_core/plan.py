"""Plan a job: job definition + extra ARGS -> batches (SPEC 2). Pure and deterministic.

A batch is one Hydra multirun: ``<run> -m <batch> <args> <with> <generated> <ARGS>``.
Its outer overrides come from the step's ``batch`` (one batch per combination;
a ``|`` section stays together as one comma sweep) and ``zip`` (paired
element-wise); ``args`` and ARGS are expanded and joined back into comma
sweeps, so Hydra sweeps them inside the batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
import shlex
from typing import List, Sequence, Tuple

from .errors import HydraflowError
from .jobs import Job, Step
from .shell import join as shell_join
from .syntax import parse_sweep

#: Shown in a dry run where the run id (fixed when a run starts) will go.
RUN_ID_PLACEHOLDER = "{run_id}"
#: Every job's outputs: ``<job file dir>/multirun/<job>/<run id>/<batch>/``.
OUTPUT_ROOT = "multirun"


class PlanError(HydraflowError):
    """A step that cannot be planned (zip lengths differ, a pipe where none fits)."""


@dataclass(frozen=True)
class Batch:
    index: int  # 0.. across the whole job
    step: int  # index of the step it comes from
    name: str  # directory name: '<index>-<overrides slug>'
    arguments: Tuple[str, ...]  # what follows '-m' (or the call's argument list)
    sweep_dir: str  # relative to the job file's directory


@dataclass(frozen=True)
class Plan:
    job: Job
    run_dir: str
    batches: Tuple[Batch, ...]


def plan_job(
    job: Job, extra: Sequence[str] = (), run_id: str = RUN_ID_PLACEHOLDER, generated: bool = True
) -> Plan:
    """All batches of ``job`` with ARGS ``extra`` appended, for run ``run_id``.

    ``generated=False`` leaves out ``hydra.job.name`` and ``hydra.sweep.dir``
    (the hydraflow sweeper runs every batch inside its own sweep).
    """
    extra_args = joined_sweeps(extra, "ARGS")
    run_dir = f"{OUTPUT_ROOT}/{job.name}/{run_id}"
    grids = []
    for number, step in enumerate(job.steps):
        outer = _step_grid(step)
        grids.append((number, step, outer))
    total = sum(len(outer) for _, _, outer in grids)
    width = len(str(max(total - 1, 0)))
    batches = []
    for number, step, outer in grids:
        inner = joined_sweeps(step.args, "args")
        settings = merge_with(job.with_, step.with_)
        _check_no_key_twice(outer, {"args": inner, "with": settings, "ARGS": extra_args})
        if generated and total > 1 and "hydra.sweep.dir" in {_key(s) for s in (*settings, *extra_args)}:
            raise PlanError(
                f"hydra.sweep.dir is set for all {total} batches, which would overwrite each "
                "other's outputs; leave it out (every batch gets its own)"
            )
        for overrides in outer:
            index = len(batches)
            slug = _slug(overrides)
            name = f"{index:0{width}d}" + (f"-{slug}" if slug else "")
            sweep_dir = f"{run_dir}/{name}"
            generated = [
                setting
                for setting in (f"hydra.job.name={job.name}", f"hydra.sweep.dir={sweep_dir}")
                if generated and _key(setting) not in {_key(s) for s in (*settings, *extra_args)}
            ]
            arguments = (*overrides, *inner, *settings, *generated, *extra_args)
            batches.append(Batch(index, number, name, arguments, sweep_dir))
    return Plan(job, run_dir, tuple(batches))


def _step_grid(step: Step) -> List[Tuple[str, ...]]:
    """The outer overrides of each batch of one step: ``batch`` x ``zip``."""
    return [a + b for a, b in product(batch_choices(step.batch), zip_choices(step.zip))]


def batch_choices(overrides: Sequence[str]) -> List[Tuple[str, ...]]:
    """One tuple of overrides per combination; a ``|`` section is one choice (a comma sweep)."""
    space = parse_sweep(list(overrides))
    per_override = []
    for override in space.overrides:
        if override.piped:
            per_override.append([axis.joined() for axis in override.sections])
        else:
            per_override.append(list(override.sections[0]))
    return [tuple(choice) for choice in product(*per_override)]


def zip_choices(overrides: Sequence[str]) -> List[Tuple[str, ...]]:
    """Overrides paired element-wise: ``model=a,b lr=1,2`` -> (model=a, lr=1), (model=b, lr=2)."""
    space = parse_sweep(list(overrides))
    columns = []
    for override in space.overrides:
        if override.piped:
            raise PlanError(f"'{override.key}' has a '|': zip pairs plain lists, use batch for pipes")
        columns.append(list(override.sections[0]))
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        sizes = ", ".join(f"{o.key} has {o.count()}" for o in space.overrides)
        raise PlanError(f"zip needs lists of one length: {sizes}")
    return [tuple(row) for row in zip(*columns)] if columns else [()]


def joined_sweeps(overrides: Sequence[str], where: str) -> Tuple[str, ...]:
    """Each override expanded, then joined back with commas for Hydra (``lr=1:3`` -> ``lr=1,2,3``)."""
    space = parse_sweep(list(overrides))
    out = []
    for override in space.overrides:
        if override.piped:
            raise PlanError(
                f"'{override.key}' has a '|', which Hydra cannot sweep inside one batch; "
                f"move it from {where} to batch"
            )
        axis = override.sections[0]
        out.append(axis.joined() if axis.prefix else axis.values[0])
    return tuple(out)


def merge_with(job_with: Sequence[str], step_with: Sequence[str]) -> Tuple[str, ...]:
    """The step's settings merged over the job's: same key -> the step's, in the job's place."""
    merged = {_key(s): s for s in job_with}
    for setting in step_with:
        merged[_key(setting)] = setting
    return tuple(merged.values())


def _check_no_key_twice(outer: List[Tuple[str, ...]], others) -> None:
    """A key of the batch grid set again by args/with/ARGS would silently replace the grid's value."""
    grid_keys = {_key(o) for overrides in outer[:1] for o in overrides}
    for where, settings in others.items():
        for setting in settings:
            if _key(setting) in grid_keys:
                raise PlanError(
                    f"'{_key(setting)}' is set by the batch grid and again by {where} ({setting}); "
                    "set it in one place"
                )


def check_settings(settings: Sequence[str]) -> None:
    """`with` entries are plain Hydra overrides: KEY=VALUE (or ~KEY)."""
    from .syntax.hydra_bridge import hydra_error

    for setting in settings:
        if "=" not in setting and not setting.startswith("~"):
            raise PlanError(f"'{setting}' is not KEY=VALUE")
        message = hydra_error(setting)
        if message is not None:
            raise PlanError(f"Hydra cannot parse '{setting}': {message}")


def _key(setting: str) -> str:
    """The key an override sets, without Hydra's '+'/'++' prefix."""
    return setting.split("=", 1)[0].strip().lstrip("+")


def _slug(overrides: Sequence[str]) -> str:
    text = "_".join(overrides)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:60].strip("-_")


def batches_file_text(plan: Plan) -> str:
    """One batch per line, shell-quoted: the file ``submit`` hands to the scheduler."""
    return "".join(shell_join(batch.arguments) + "\n" for batch in plan.batches)


def dry_run_text(plan: Plan) -> str:
    """Exactly what ``hydraflow run`` would execute (SPEC 4), one line per command."""
    job = plan.job
    if job.kind == "run":
        command = shlex.split(job.target)
        return "".join(shell_join([*command, "-m", *b.arguments]) + "\n" for b in plan.batches)
    if job.kind == "call":
        return "".join(f"{job.target}({list(b.arguments)!r})\n" for b in plan.batches)
    path = f"{plan.run_dir}/batches.txt"
    return (shell_join([*shlex.split(job.target), path]) + "\n"
            + f"# {path}:\n" + batches_file_text(plan))
