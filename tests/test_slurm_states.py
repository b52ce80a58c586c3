"""A run's state from its own records and what Slurm says of its task (the one rule of the wait and status)."""

from __future__ import annotations

import pytest

from hydraflow_core.executors.slurm.query import GONE, UNLISTED
from hydraflow_core.executors.slurm.states import fold


@pytest.mark.parametrize("state, started, slurm, expected", [
    pytest.param("completed", True, "CANCELLED", ("completed", None), id="own-end-record-says-it-all"),
    pytest.param("running", True, None, ("running", None), id="slurm-says-nothing"),
    pytest.param("interrupted", True, "CANCELLED",
                 ("cancelled", "Slurm says task 7_1 ended (CANCELLED); the run was stopped"), id="stopped-cancelled"),
    pytest.param("interrupted", True, GONE, ("cancelled", "Slurm no longer knows task 7_1; the run was stopped"),
                 id="stopped-and-its-task-gone-from-accounting"),
    pytest.param("interrupted", True, "PENDING", ("requeued", None), id="stopped-and-requeued"),
    pytest.param("planned", False, "PENDING", ("pending", None), id="queued"),
    pytest.param("running", True, "PENDING", ("requeued", None), id="started-then-queued-again"),
    pytest.param("planned", False, "RUNNING", ("pending", None), id="task-running-run-not-yet"),
    pytest.param("planned", False, GONE, ("cancelled", "Slurm no longer knows task 7_1 and the run has no end "
                                                      "record: it was cancelled before it ended"),
                 id="cancelled-while-pending"),
    pytest.param("running", True, UNLISTED, ("lost", "Slurm task 7_1 is no longer queued, and the run has no end "
                                                     "record"), id="no-accounting"),
    pytest.param("running", True, "TIMEOUT", ("timed out", "Slurm says task 7_1 ended (TIMEOUT), but the run has "
                                                          "no end record"), id="task-timed-out"),
])
def test_a_runs_state_folds_its_records_and_slurms_word(state, started, slurm, expected):
    assert fold(state, started, "7_1", slurm) == expected
