"""Planning: a sweep's runs numbered and packed into tasks (:mod:`.runs`); a job's batches are planned in :mod:`hydraflow_core.jobs.batches`."""

from hydraflow_core.plan.runs import Run, Task, chunks, group_chunks, number_runs, pack, plan

__all__ = ["Run", "Task", "chunks", "group_chunks", "number_runs", "pack", "plan"]
