"""A node's GPUs and CPUs cut into shares, one per worker, for several runs at once in one allocation.

A Slurm task with ``parallel_per_task: P`` runs its runs P at a time on
forked workers. Each worker gets a contiguous group of the task's GPUs (its
``CUDA_VISIBLE_DEVICES``, e.g. ``0,1``) and a share of the CPUs the task may
use (``os.sched_getaffinity``): the worker pins itself to them and sets
``OMP_NUM_THREADS`` to their number, unless the user set it. Shares differ
in size by at most one; with fewer GPUs or CPUs than workers, workers share
them in turn. Pure functions, tested by tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Shares:
    gpus: Tuple[str, ...] = ()  # one CUDA_VISIBLE_DEVICES value per worker ('0,1'); empty: left alone
    cpus: Tuple[Tuple[int, ...], ...] = ()  # one CPU set per worker; empty: not pinned


def split(items: Sequence[T], parts: int) -> List[Tuple[T, ...]]:
    """``items`` in ``parts`` contiguous groups whose sizes differ by at most one (the first ones larger);
    with fewer items than parts, one item per group, in turn."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, not {parts}")
    if not items:
        return []
    if len(items) < parts:
        return [(items[i % len(items)],) for i in range(parts)]
    size, extra = divmod(len(items), parts)
    groups, start = [], 0
    for index in range(parts):
        end = start + size + (index < extra)
        groups.append(tuple(items[start:end]))
        start = end
    return groups


def node_shares(parts: int, env: Optional[Mapping[str, str]] = None,
                cpus: Optional[Sequence[int]] = None) -> Shares:
    """This process's GPUs (``CUDA_VISIBLE_DEVICES``) and CPUs (its affinity) in ``parts`` shares."""
    env = os.environ if env is None else env
    if parts <= 1:
        return Shares()
    visible = [g.strip() for g in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    if cpus is None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return Shares(tuple(",".join(group) for group in split(visible, parts)), tuple(split(sorted(cpus), parts)))


def worker_env(share: Sequence[int], env: Optional[Mapping[str, str]] = None) -> dict:
    """What a worker pinned to ``share`` sets: ``OMP_NUM_THREADS`` (unless the user set it)."""
    env = os.environ if env is None else env
    return {} if not share or "OMP_NUM_THREADS" in env else {"OMP_NUM_THREADS": str(len(share))}


def pin(share: Sequence[int]) -> None:
    """Pin this process (a worker) to the CPUs of ``share`` (where the OS allows it)."""
    if share and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, set(share))
        except OSError:  # a CPU the task may not use after all: keep what it has
            pass
