"""The run plan: a sweep's batch groups -> numbered runs -> tasks. Pure and lazy.

This is the one place that numbers, packs and chunks runs. Every front end
(the Hydra sweeper, ``hydraflow retry``, a Slurm array) goes through it:

- runs are numbered 0..N-1 in Hydra's order, group after group;
- a *task* is what one executor slot runs in one go (one worker call, one
  Slurm array task): up to ``runs_per_task`` consecutive runs of one group;
- a replay packs any chosen set of recorded runs again, keeping their
  numbers, so "run #3, #17 and #42 again" is just another list of runs.

Nothing here holds a whole sweep: a 10^6-run sweep streams through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import islice
from typing import Any, Dict, Iterable, Iterator, List, Sequence, Tuple, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Run:
    number: int  # hydra.job.num: 0..N-1 across the whole sweep
    overrides: Tuple[str, ...]  # the run's plain Hydra overrides
    group: int  # the batch group (a '|' section, a job's batch) it belongs to
    # Slurm settings of this run's own (resolved from its config), as sorted pairs; runs differing here never
    # share a task
    resources: Tuple[Tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Task:
    index: int  # 0.. in the order tasks are planned
    group: int
    runs: Tuple[Run, ...]  # consecutive runs, executed one after another
    # what the task asks of a scheduler, over the executor's settings (a job step's `slurm:`), as sorted pairs
    resources: Tuple[Tuple[str, Any], ...] = ()

    @property
    def numbers(self) -> Tuple[int, ...]:
        return tuple(run.number for run in self.runs)


def number_runs(groups: Iterable[Iterable[Sequence[str]]], first: int = 0) -> Iterator[Run]:
    """Every run of every group, numbered from ``first`` in order."""
    number = first
    for group, runs in enumerate(groups):
        for overrides in runs:
            yield Run(number, tuple(overrides), group)
            number += 1


def pack(runs: Iterable[Run], runs_per_task: int = 1, first_task: int = 0) -> Iterator[Task]:
    """Runs of one group, at most ``runs_per_task`` to a task, in order.

    A task never spans two groups: a group's runs stay together, as Hydra's
    launcher API hands them over, and a task's runs can share a template.
    Nor does it mix runs of different ``resources``: within a group, each set
    of resources fills its own tasks (consecutive runs when all runs ask the same).
    """
    if runs_per_task < 1:
        raise ValueError(f"runs_per_task must be at least 1, not {runs_per_task}")
    index = first_task
    filling: Dict[str, List[Run]] = {}  # resources' key -> the runs of the task being filled
    group = None
    for run in runs:
        if run.group != group:
            for members in filling.values():
                yield Task(index, members[0].group, tuple(members), members[0].resources)
                index += 1
            filling, group = {}, run.group
        slot = _key(run.resources)
        members = filling.setdefault(slot, [])
        members.append(run)
        if len(members) == runs_per_task:
            yield Task(index, run.group, tuple(members), run.resources)
            index += 1
            del filling[slot]
    for members in filling.values():
        yield Task(index, members[0].group, tuple(members), members[0].resources)
        index += 1


def _key(resources: Tuple[Tuple[str, Any], ...]) -> str:
    return json.dumps(resources, sort_keys=True, default=str) if resources else ""


def plan(groups: Iterable[Iterable[Sequence[str]]], runs_per_task: int = 1) -> Iterator[Task]:
    """A sweep's tasks: its groups' runs numbered 0..N-1, then packed."""
    return pack(number_runs(groups), runs_per_task)


def chunks(items: Iterable[T], size: int) -> Iterator[List[T]]:
    """``items`` cut into lists of at most ``size`` (the last one shorter)."""
    if size < 1:
        raise ValueError(f"a chunk size must be at least 1, not {size}")
    source = iter(items)
    while True:
        chunk = list(islice(source, size))
        if not chunk:
            return
        yield chunk


def group_chunks(runs: Iterable[Run], size: int) -> Iterator[List[Run]]:
    """Runs cut into launcher calls of at most ``size``, never across two groups."""
    current: List[Run] = []
    for run in runs:
        if current and (len(current) == size or run.group != current[0].group):
            yield current
            current = []
        current.append(run)
    if current:
        yield current
