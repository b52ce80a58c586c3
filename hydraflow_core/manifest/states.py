"""The words for a run's state, as `hydraflow status`, the summaries and ``--json`` print them."""

# Run states (SPEC 3, `hydraflow status`).
PLANNED = "planned"  # in the plan, never started, nothing is going to start it
PENDING = "pending"  # in the plan, its launcher is still alive: queued
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
INTERRUPTED = "interrupted"
LOST = "lost"  # started, no end record, and the process that ran it is gone
STATES = (PLANNED, PENDING, RUNNING, COMPLETED, FAILED, INTERRUPTED, LOST)
# What Slurm's own accounting adds for a run that left no end record of its own
# (its task ended, or waits to run again); see executors/slurm/states.py.
REQUEUED = "requeued"
CANCELLED = "cancelled"
TIMED_OUT = "timed out"
OUT_OF_MEMORY = "out of memory"
NODE_FAIL = "node fail"
PREEMPTED = "preempted"
#: States of a run's own end record (TIMED_OUT: past its local limit, ``hydra.launcher.timeout_min``).
ENDED = (COMPLETED, FAILED, INTERRUPTED, TIMED_OUT)
#: End records that say it all, whatever Slurm says of the run's task.
FINAL = (COMPLETED, FAILED, TIMED_OUT)
#: Every state word, in the order summaries list them.
ORDER = (*STATES, REQUEUED, CANCELLED, TIMED_OUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED)
#: States of a run that has ended and will not run again by itself (retry runs it again).
OVER = (FAILED, INTERRUPTED, LOST, CANCELLED, TIMED_OUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED)
#: States of a run that is still under way somewhere.
ACTIVE = (PENDING, RUNNING, REQUEUED)
#: End states ``max_retries`` runs again (not a stop signal's, nor a cancellation's).
RETRIED = (FAILED, LOST, TIMED_OUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED)
