"""The manifest: a sweep's plan and every run's state, on disk, true after any crash.

Layout (a public format, documented in the README)::

    SWEEP_DIR/.hydraflow/
        manifest.json     the header, written once: what the sweep is, how to launch it again
        plan.jsonl        one line per run: number, overrides, group, task
        attempts.jsonl    one line per launch (the first, then every retry)
        events/A-HOST-PID.jsonl
                          one file per writing process, one line per event
                          (a run started / ended), appended with one write()

Why this shape: each file has exactly one writer, and every write appends
one whole line, so many writers at once (forked workers now, Slurm tasks on
many nodes over a shared filesystem) need no lock, and a writer killed at any
instant leaves at most a partial last line, which readers skip. No record is
ever rewritten: the cost per run is two appends, whatever the sweep's size.

A run's state is its latest event: events of a later attempt win; within an
attempt an end beats a start, and the running process's own end record beats
one its launcher wrote for it (a worker that died after recording its end).
"""

from .files import (  # noqa: F401 - the package's public names
    DIR_NAME, EXEC, FORMAT, HOST, NODE, SUBMITIT, VERSION, add_slurm_record, append, folder, has_manifest, json_line,
    manifest_dir, process_alive, process_start, read_header, read_lines, disk_is_full, relative_to, slurm_ids,
    slurm_records, write_atomic,
)
from .read import RunRecord, SweepState, read
from .states import (
    ACTIVE, CANCELLED, COMPLETED, ENDED, FAILED, FINAL, INTERRUPTED, LOST, NODE_FAIL, ORDER, OUT_OF_MEMORY, OVER, PENDING,
    PLANNED, PREEMPTED, REQUEUED, RUNNING, STATES, TIMED_OUT,
)
from .write import EventLog, Manifest
