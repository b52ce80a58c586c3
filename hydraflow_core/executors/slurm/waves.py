"""Waves: a sweep's array tasks submitted a part at a time, where they do not all fit the user's queue. Light.

A site's ``MaxSubmitJobs`` counts every array task the user has queued
(pending or running). When a sweep's tasks do not fit what may still be
queued -- ``runs_per_task`` set too small for the limit, or the queue
already partly full -- the tasks go out in waves: the first wave as many as
fit now, each later one when earlier tasks have left the queue.

Who submits the later waves: the waiting launcher (``wait: true``) from its
poll loop; with ``wait: false`` a small job that Slurm starts once the wave
before has ended (``--dependency=afterany``, whatever way its tasks ended:
robust to a task killed for memory or time, which no code of ours at the end
of a task would survive). Such a job needs a place in the queue while the
wave it follows is queued, and one while it runs and submits the next wave
and that wave's own job: so a wave to walk away from is at most the limit
less 2. Waiting, a wave is half the limit: the next goes once half the
queue is free, while the rest still runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, TypeVar

from hydraflow_core.executors.slurm.limits import Limits, SiteLimitError

T = TypeVar("T")

#: Queued jobs a wave submitted from inside the cluster needs besides its tasks: its own small job,
#: and the running one that submits it.
GUARD_SLOTS = 2


@dataclass(frozen=True)
class Waves:
    """How a sweep's array tasks go out: ``first`` now, then waves of ``size``."""

    tasks: int  # array tasks in all
    first: int  # tasks of the first wave (what fits now; 0: nothing fits yet)
    size: int  # tasks of each later wave
    guarded: bool  # wait=false: each wave has a small job that submits the next

    def sizes(self) -> List[int]:
        """Each wave's number of tasks, in order."""
        out = [self.first] if self.first else []
        left = self.tasks - self.first
        while left > 0:
            out.append(min(self.size, left))
            left -= out[-1]
        return out

    def split(self, items: Sequence[T]) -> List[List[T]]:
        """``items`` (one per task, in order) cut into the waves."""
        out, at = [], 0
        for size in self.sizes():
            out.append(list(items[at:at + size]))
            at += size
        return out

    @property
    def count(self) -> int:
        return len(self.sizes())

    @property
    def largest(self) -> int:
        return max(self.sizes())


def plan(tasks: int, limits: Limits, walk_away: bool = False) -> Optional[Waves]:
    """The waves of ``tasks`` array tasks under ``limits``; None when they all fit now (or no limit is known).

    ``walk_away`` (wait=false): each wave keeps room for the small job that
    submits the next (:data:`GUARD_SLOTS`). :class:`SiteLimitError` where no
    wave can ever go (a limit of 0; too small a limit to walk away from).
    """
    free, most = limits.free, limits.max_submit
    if free is None or most is None or tasks <= free:
        return None
    if most <= 0:
        raise SiteLimitError(f"{limits.said('max_submit')} lets you submit no job on this cluster: ask the site "
                             f"for a limit above 0, or submit to another account or QOS (hydra.launcher.slurm.account, "
                             f"hydra.launcher.slurm.qos)")
    if walk_away:
        if most <= GUARD_SLOTS:
            raise SiteLimitError(f"{tasks} array tasks do not fit {limits.said('max_submit')}, and with "
                                 f"hydra.launcher.wait=false each wave is submitted by a small job in the queue, "
                                 f"which needs a limit of at least {GUARD_SLOTS + 1}: set hydra.launcher.wait=true "
                                 f"(this process then submits the waves as earlier tasks end)")
        return Waves(tasks, max(0, free - 1), most - GUARD_SLOTS, True)
    return Waves(tasks, free, max(1, most // 2), False)


def said(waves: Waves, runs: int, limits: Limits, noun: str = "runs") -> str:
    """The one line saying what was chosen and why."""
    count = waves.count
    how = ("each wave's small job submits the next once it has left the queue (wait=false)" if waves.guarded
           else "the next wave goes as earlier tasks leave the queue")
    first = "" if waves.first else "; none fits now"
    return (f"hydraflow: {runs} {noun} in {count} wave{'s' * (count != 1)} of up to {waves.largest} array tasks "
            f"to fit {limits.said('max_submit')} ({limits.queued} queued now): {how}{first}")


def to_come(runs: int, waves: int) -> str:
    """``40 runs in 4 waves still to submit`` (status, progress lines)."""
    return f"{runs} run{'s' * (runs != 1)} in {waves} wave{'s' * (waves != 1)} still to submit"


def choose(left: Sequence[Sequence[T]], room: int, guarded: bool, partial: bool = False) -> List[T]:
    """The tasks to submit now: whole waves, in order, while they fit ``room`` (the jobs the user may still
    queue), with room kept for the next wave's small job (``guarded``) while tasks remain after them.

    ``partial``: when not even the next wave fits, as much of it as does -- what the last submitter does
    (nothing else of the sweep is queued to free room later, so waiting for a whole wave could wait for ever).
    """
    total = sum(len(wave) for wave in left)
    chosen: List[T] = []
    for wave in left:
        after = total - len(chosen) - len(wave)
        if len(chosen) + len(wave) + (1 if guarded and after else 0) > room:
            break
        chosen.extend(wave)
    if not chosen and partial and left:
        chosen = list(left[0][:max(0, room - (1 if guarded else 0))])
    return chosen
