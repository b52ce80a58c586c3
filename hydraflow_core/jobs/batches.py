"""Plan a job: job definition + extra ARGS -> batches. Pure and deterministic.

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
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydraflow_core.errors import HydraflowError
from hydraflow_core.jobs.model import Job, Step
from hydraflow_core.syntax import parse_sweep

#: Shown in a dry run where the run id (fixed when a run starts) will go.
RUN_ID_PLACEHOLDER = "{run_id}"
#: Every job's outputs: ``<job file dir>/multirun/<job>/<run id>/<batch>/``.
OUTPUT_ROOT = "multirun"
#: Default limit on a job's batches (``hydraflow run --max-batches N`` raises it):
#: they are counted first and refused above it, never materialised.
from hydraflow_core.limits import MAX_BATCHES  # noqa: E402 - where the CLI reads it too
#: Each batch's log (its app's output), in its sweep directory.
LOG_NAME = "hydraflow.log"
#: The longest single command-line argument Linux passes (MAX_ARG_STRLEN, 128 KiB,
#: less its terminating NUL); a longer comma sweep cannot reach the app.
MAX_ARG_BYTES = 131_071
_INT = re.compile(r"-?[0-9]+")


class PlanError(HydraflowError):
    """A step that cannot be planned (zip lengths differ, a pipe where none fits).

    ``override`` is the override (or, for a key set twice, the setting) at
    fault, so the job file's loader can name its line.
    """

    def __init__(self, message: str, override: Optional[str] = None) -> None:
        super().__init__(message)
        self.override = override


@dataclass(frozen=True)
class Batch:
    index: int  # 0.. across the whole job
    step: int  # index of the step it comes from
    name: str  # directory name: '<index>-<overrides slug>'
    arguments: Tuple[str, ...]  # what follows '-m' (or the call's argument list)
    sweep_dir: str  # relative to the job file's directory
    slurm: Tuple[Tuple[str, Any], ...] = ()  # the job's `slurm` merged with its step's (empty: run here)
    grid: Tuple[str, ...] = ()  # its own values (of `batch` and `zip`): what tells it apart from its step's others


@dataclass(frozen=True)
class Plan:
    job: Job
    run_dir: str
    batches: Tuple[Batch, ...]


def plan_job(
    job: Job, extra: Sequence[str] = (), run_id: str = RUN_ID_PLACEHOLDER, generated: bool = True,
    max_batches: int = MAX_BATCHES,
) -> Plan:
    """All batches of ``job`` with ARGS ``extra`` appended, for run ``run_id``.

    ``generated=False`` leaves out ``hydra.job.name`` and ``hydra.sweep.dir``
    (the hydraflow sweeper runs every batch inside its own sweep). A job of
    more than ``max_batches`` batches is refused before any is built.
    """
    extra_args = joined_sweeps(extra, "ARGS")
    run_dir = f"{OUTPUT_ROOT}/{job.name}/{run_id}"
    total = count_batches(job)
    if total > max_batches:
        where = f"{job.where}: jobs.{job.name}: " if job.where else f"job '{job.name}': "
        raise PlanError(f"{where}{total} batches, more than the limit of {max_batches} "
                        "(raise it with --max-batches N, or move a sweep from batch to args)")
    width = len(str(max(total - 1, 0)))
    extra_keys = {_key(s) for s in extra_args}
    batches = []
    for number, step in enumerate(job.steps):
        inner = joined_sweeps(step.args, "args")
        settings = merge_with(job.with_, step.with_)
        problem = key_twice_problem(step, {"args": inner, "with": settings, "ARGS": extra_args})
        if problem is not None:
            raise PlanError(problem[2], problem[1])
        if generated and "hydra.sweep.dir" in extra_keys | {_key(s) for s in settings}:
            problem = sweep_dir_problem(total)
            if problem is not None:
                raise PlanError(problem)
        own_keys = {_key(s) for s in settings} | extra_keys
        for overrides in _step_grid(step):
            index = len(batches)
            name = batch_name(index, width, overrides)
            sweep_dir = f"{run_dir}/{name}"
            added = [
                setting
                for setting in (f"hydra.job.name={job.name}", f"hydra.sweep.dir={sweep_dir}")
                if generated and _key(setting) not in own_keys
            ]
            arguments = (*overrides, *inner, *settings, *added, *extra_args)
            slurm = tuple(_batch_slurm(job, {**job.slurm, **step.slurm}, index, overrides, arguments).items())
            batches.append(Batch(index, number, name, arguments, sweep_dir, slurm, tuple(overrides)))
    return Plan(job, run_dir, tuple(batches))


def _batch_slurm(job: Job, raw: Dict[str, Any], index: int, own: Sequence[str],
                 arguments: Sequence[str]) -> Dict[str, Any]:
    """The batch's Slurm settings, ``${key}`` given by its own overrides (see resources.batch_settings)."""
    from hydraflow_core.executors.slurm.fields import problems
    from hydraflow_core.executors.slurm.resources import batch_settings, interpolated_fields

    if not interpolated_fields(raw):
        return raw
    shown = f"batch {index}" + (f" ({' '.join(own)})" if own else "")
    try:
        settings = batch_settings(raw, arguments)
    except KeyError as missing:
        raise PlanError(f"{job.where}: jobs.{job.name}: slurm: {shown} sets no '{missing.args[0]}' "
                        f"for its ${{{missing.args[0]}}}: a job's slurm: fields interpolate the batch's own "
                        f"overrides") from None
    bad = problems(settings)
    if bad:
        raise PlanError(f"{job.where}: jobs.{job.name}: {shown}: " + "; ".join(bad))
    return settings


def count_batches(job: Job) -> int:
    """The number of batches of ``job``, counted without building any."""
    return sum(step_count(step) for step in job.steps)


def step_count(step: Step) -> int:
    """Batches of one step: the product of its ``batch`` choices times its ``zip`` pairs."""
    total = 1
    for override in parse_sweep(list(step.batch)).overrides:
        total *= len(override.sections) if override.piped else len(override.sections[0])
    zipped = parse_sweep(list(step.zip)).overrides
    return total * (len(zipped[0].sections[0]) if zipped else 1)


def grid_keys(step: Step) -> set:
    """Every key the step's batch grid sets, in any ``|`` section."""
    keys: set = set()
    for override in (*parse_sweep(list(step.batch)).overrides, *parse_sweep(list(step.zip)).overrides):
        keys |= {key.lstrip("+") for key in override.keys()}
    return keys


def key_twice_problem(step: Step, others: Dict[str, Sequence[str]]) -> Optional[Tuple[str, str, str]]:
    """``(where, setting, message)`` for the first of ``others`` that sets a key of the batch grid.

    Such a setting would silently replace the grid's value, and the batch
    directories named after the grid would lie.
    """
    keys = grid_keys(step)
    for where, settings in others.items():
        for setting in settings:
            if _key(setting) in keys:
                return where, setting, (f"'{_key(setting)}' is set by the batch grid and again by "
                                        f"{where} ({_short(setting)}); set it in one place")
    return None


def sweep_dir_problem(total: int) -> Optional[str]:
    """A ``hydra.sweep.dir`` given by the user is only right for a job of one batch."""
    if total <= 1:
        return None
    return (f"hydra.sweep.dir is set for all {total} batches, which would overwrite each "
            "other's outputs; leave it out (every batch gets its own)")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _step_grid(step: Step) -> List[Tuple[str, ...]]:
    """The outer overrides of each batch of one step: ``batch`` x ``zip``."""
    return [a + b for a, b in product(batch_choices(step.batch), zip_choices(step.zip))]


def batch_choices(overrides: Sequence[str]) -> List[Tuple[str, ...]]:
    """One tuple of overrides per combination; a ``|`` section is one choice (a comma sweep)."""
    space = parse_sweep(list(overrides))
    per_override = []
    for override in space.overrides:
        if override.piped:
            per_override.append([one_argument(axis, "batch") for axis in override.sections])
        else:
            per_override.append(list(override.sections[0]))
    return [tuple(choice) for choice in product(*per_override)]


def check_batch(overrides: Sequence[str]) -> None:
    """What :func:`batch_choices` would reject, found without building the combinations."""
    for override in parse_sweep(list(overrides)).overrides:
        if override.piped:
            for axis in override.sections:
                one_argument(axis, "batch")


def zip_choices(overrides: Sequence[str]) -> List[Tuple[str, ...]]:
    """Overrides paired element-wise: ``model=a,b lr=1,2`` -> (model=a, lr=1), (model=b, lr=2)."""
    space = parse_sweep(list(overrides))
    columns = []
    for override in space.overrides:
        if override.piped:
            raise PlanError(f"'{override.key}' has a '|': zip pairs plain lists, use batch for pipes",
                            override.key)
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
                f"move it from {where} to batch", override.key
            )
        axis = override.sections[0]
        out.append(one_argument(axis, where) if axis.prefix else axis.values[0])
    return tuple(out)


def one_argument(axis, where: str) -> str:
    """An axis as one command-line argument for Hydra: ``lr=1,2,3``.

    A comma sweep longer than one argument may be (``MAX_ARG_BYTES``) is
    written as Hydra's ``range(start,stop,step)`` (stop exclusive) when its
    values are whole numbers with one step; otherwise it cannot be passed.
    """
    joined = axis.joined()
    if len(joined) <= MAX_ARG_BYTES and len(joined.encode()) <= MAX_ARG_BYTES:
        return joined
    values = list(axis.values)
    if all(_INT.fullmatch(v) for v in values):
        numbers = [int(v) for v in values]
        step = numbers[1] - numbers[0]
        if step != 0 and all(b - a == step for a, b in zip(numbers, numbers[1:])):
            stop = numbers[-1] + step
            return axis.prefix + (f"range({numbers[0]},{stop})" if step == 1
                                  else f"range({numbers[0]},{stop},{step})")
    key = axis.prefix[:-1]
    raise PlanError(
        f"'{key}' in {where} gives {len(values)} values, {len(joined.encode())} bytes as one comma "
        f"sweep, more than one command-line argument may hold ({MAX_ARG_BYTES} bytes); "
        "sweep fewer values per batch (move some to batch), or use whole numbers with one step "
        "(passed on as Hydra's range())", key)


def merge_with(job_with: Sequence[str], step_with: Sequence[str]) -> Tuple[str, ...]:
    """The step's settings merged over the job's: same key -> the step's, in the job's place."""
    merged = {_key(s): s for s in job_with}
    for setting in step_with:
        merged[_key(setting)] = setting
    return tuple(merged.values())


def check_settings(settings: Sequence[str]) -> None:
    """`with` entries are plain Hydra overrides: KEY=VALUE (or ~KEY)."""
    from hydraflow_core.syntax.hydra_bridge import hydra_error

    for setting in settings:
        if "=" not in setting and not setting.startswith("~"):
            raise PlanError(f"'{setting}' is not KEY=VALUE", setting)
        message = hydra_error(setting)
        if message is not None:
            raise PlanError(f"Hydra cannot parse '{setting}': {message}", setting)


def _key(setting: str) -> str:
    """The key an override sets, without Hydra's '+'/'++' prefix."""
    return setting.split("=", 1)[0].strip().lstrip("+")


def batch_name(index: int, width: int, grid: Sequence[str]) -> str:
    """A batch's directory name: ``<index>-<its values, as a slug>``, the index ``width`` digits wide."""
    slug = _slug(grid)
    return f"{index:0{width}d}" + (f"-{slug}" if slug else "")


def _slug(overrides: Sequence[str]) -> str:
    text = "_".join(overrides)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:60].strip("-_")
