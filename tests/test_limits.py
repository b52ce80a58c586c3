"""A site's per-user limits: read from Slurm's answers, and a sweep fitted to them (unit tests of our logic;
tests/slurm/test_site_limits.py runs them against a cluster that enforces the limits)."""

from __future__ import annotations

import pytest

from hydraflow_core.executors.slurm import limits, pending
from hydraflow_core.executors.slurm.limits import Limits, SiteLimitError


@pytest.mark.parametrize("rows, account, expected", [
    pytest.param("root|||normal|\n", "root", {"max_submit": None, "max_running": None, "qos": "normal"},
                 id="no-limits"),
    pytest.param("root|50|4|normal|\n", "root", {"max_submit": 50, "max_running": 4, "qos": "normal"},
                 id="association-limits"),
    pytest.param("a|100|8|normal,high|high\nb|20|2|normal|\n", "a",
                 {"max_submit": 100, "max_running": 8, "qos": "high"}, id="default-account-and-qos"),
    pytest.param("a|100|8|normal|\nb|20|-1|normal|\n", None, {"max_submit": 20, "max_running": 8, "qos": "normal"},
                 id="no-default-account-the-tightest"),
    pytest.param("", None, {"max_submit": None, "max_running": None, "qos": None}, id="no-association"),
])
def test_the_association_rows_give_the_users_limits(rows, account, expected):
    assert limits.association(rows, account) == expected


@pytest.mark.parametrize("rows, name, expected", [
    pytest.param("normal|||\n", "normal", {"max_submit": None, "max_running": None}, id="unlimited"),
    pytest.param("normal|||\nlow|30|2|\n", "low", {"max_submit": 30, "max_running": 2}, id="per-user-limits"),
    pytest.param("normal|5|1|\n", "other", {"max_submit": None, "max_running": None}, id="unknown-qos"),
])
def test_the_qos_rows_give_its_per_user_limits(rows, name, expected):
    assert limits.qos_limits(rows, name) == expected


SITE = Limits(1001, max_submit=50, max_running=4, queued=0, names={"max_submit": "MaxSubmitJobs, association",
                                                                   "max_running": "MaxJobs, association"})


@pytest.mark.parametrize("runs, runs_per_task, site, groups, expected", [
    pytest.param(600, None, Limits(), 1, (1, None), id="no-limit-known"),
    pytest.param(40, None, SITE, 1, (1, None), id="fits-as-it-is"),
    pytest.param(50, None, SITE, 1, (1, None), id="fits-exactly"),
    pytest.param(600, None, SITE, 1, (12, "hydraflow: 600 runs packed 12 per task into 50 array task(s) to fit your "
                                     "limit of 50 queued jobs (MaxSubmitJobs, association) (0 queued now); "
                                     "hydra.launcher.runs_per_task sets it"), id="packed-to-fit"),
    pytest.param(600, None, Limits(1001, 50, 4, 20, {"max_submit": "MaxSubmitJobs, association"}), 1,
                 (20, "hydraflow: 600 runs packed 20 per task into 30 array task(s) to fit your limit of 50 queued "
                      "jobs (MaxSubmitJobs, association) (20 queued now); hydra.launcher.runs_per_task sets it"),
                 id="what-is-queued-counts"),
    pytest.param(100, None, SITE, 3, (3, "hydraflow: 100 runs packed 3 per task into 34 array task(s) to fit your "
                                     "limit of 50 queued jobs (MaxSubmitJobs, association) (0 queued now); "
                                     "hydra.launcher.runs_per_task sets it"), id="groups-pack-apart"),
    pytest.param(600, 20, SITE, 1, (20, None), id="the-users-setting-fits"),
    pytest.param(None, None, SITE, 1, (1, None), id="unknown-total"),
    pytest.param(600, 2, SITE, 1, (2, None), id="the-users-setting-kept-waves-do-the-rest"),
    pytest.param(600, None, Limits(1001, 50, 4, 50, {"max_submit": "MaxSubmitJobs, association"}), 1,
                 (12, "hydraflow: 600 runs packed 12 per task into 50 array task(s) to fit your limit of 50 queued "
                      "jobs (MaxSubmitJobs, association) (50 queued now); hydra.launcher.runs_per_task sets it"),
                 id="queue-full-packed-to-the-limit"),
    pytest.param(600, None, Limits(1001, 50, 4, 40, {"max_submit": "MaxSubmitJobs, association"}), 1,
                 (12, "hydraflow: 600 runs packed 12 per task into 50 array task(s) to fit your limit of 50 queued "
                      "jobs (MaxSubmitJobs, association) (40 queued now); hydra.launcher.runs_per_task sets it"),
                 id="queue-mostly-full-packed-to-the-limit-not-into-10-long-tasks"),
])
def test_a_sweep_is_packed_to_fit_the_jobs_the_user_may_queue(runs, runs_per_task, site, groups, expected):
    assert limits.fit(runs, runs_per_task, site, groups) == expected


def test_a_limit_of_0_is_one_clear_error():
    with pytest.raises(SiteLimitError, match=r"^your limit of 0 queued jobs \(MaxSubmitJobs, association\) lets you "
                                             r"submit no job"):
        limits.fit(10, None, Limits(1001, 0, None, 0, {"max_submit": "MaxSubmitJobs, association"}))


@pytest.mark.parametrize("reasons, running, expected", [
    pytest.param(["AssocMaxJobsLimit"] * 4, 4, "4 pending: your limit of 4 running jobs (AssocMaxJobsLimit)",
                 id="max-jobs"),
    pytest.param(["AssocMaxJobsLimit", "Priority", "Priority"], None,
                 "2 pending: other jobs go first (Priority); 1 pending: your limit of running jobs "
                 "(AssocMaxJobsLimit)", id="most-first-limit-unknown"),
    pytest.param(["SomethingNew", "None"], None, "1 pending: SomethingNew", id="unknown-reason-as-slurm-names-it"),
    pytest.param([], None, "", id="none"),
])
def test_why_tasks_wait_in_words(reasons, running, expected):
    assert pending.summary(reasons, running) == expected
