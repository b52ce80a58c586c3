"""Shared test helpers: a private copy of example_app, so tests never write into the repo."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# Tests never write into the repository: no .hypothesis/ example database.
settings.register_profile("hydraflow", database=None)
settings.load_profile("hydraflow")

ROOT = Path(__file__).resolve().parents[1]


def copy_example_app(parent: Path) -> Path:
    target = parent / "example_app"
    shutil.copytree(ROOT / "example_app", target, ignore=shutil.ignore_patterns("multirun", "outputs"))
    return target


@pytest.fixture
def app(tmp_path) -> Path:
    return copy_example_app(tmp_path)


@pytest.fixture(autouse=True)
def _no_slurm_outside_tests_slurm(request, tmp_path_factory, monkeypatch):
    """Only tests/slurm reaches the local Slurm cluster (and shares it by its lock): elsewhere SLURM_CONF
    is an empty file, so that scontrol, sacctmgr and squeue fail at once, as where Slurm is not installed.
    A Slurm dry run there then neither reads the limits a tests/slurm test has set on the cluster this
    moment (nor its queued jobs), nor waits for a controller that is stopped (.ci/versions.sh)."""
    if Path(__file__).parent / "slurm" in request.node.path.parents:
        return
    empty = tmp_path_factory.getbasetemp() / "no-slurm.conf"
    empty.touch()
    monkeypatch.setenv("SLURM_CONF", str(empty))


def pids_running(text: str) -> list:
    """Pids of live processes whose command line holds ``text`` (read from /proc: no pgrep needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":  # a zombie has already exited
            found.append(int(entry.name))
    return found


#: An app whose runs with ``seed`` in ``fail`` fail their first ``times`` tries (counted in files under $MARKERS).
FAIL_ONCE = """
import os, pathlib, hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    marker = pathlib.Path(os.environ["MARKERS"]) / f"{cfg.seed}"
    tries = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(tries))
    if cfg.seed in cfg.fail and tries <= cfg.times:
        raise RuntimeError(f"seed {cfg.seed} fails on try {tries}")
    return cfg.seed

if __name__ == "__main__":
    main()
"""


# ----- the order of the tests under pytest-xdist (the README's `-n 4 --dist loadfile`)
#
# With --dist loadfile a file is the unit of work, and xdist hands the files out by their number
# of tests: the Slurm files (few tests that mostly wait) came last, their waits one after another
# at the end, and a test that takes the cluster alone (a restart: it waits for every running Slurm
# test, while no new one may start) waited for the longest of them. Instead:
# - the tests that take the cluster alone (marked slurm_alone by tests/slurm/conftest.py) are one
#   unit, handed out first; while it runs, the other workers take units that do not use Slurm;
# - then the units go out longest first, so that the long waits overlap everything else;
# - a test that waits long on its own is a unit of its own (its wait overlaps the rest of its file);
# - a worker takes its next unit when one test is left (xdist: two), as it can only start a test
#   once it knows the next one: no unit waits behind a long last test while another worker idles;
#   behind a test that is a unit of its own, the unit held back is the smallest one.
# The seconds are --durations=0 figures on 2 cores with the cluster up. They only order the work:
# a test or file missing here (renamed, new) runs with its file, as before.
#
# xdist's controller only sees test ids: the workers write the ids of the slurm_alone tests to a
# directory the controller made (its path in the environment the workers inherit).

#: Expected seconds of a file's unit (without its tests listed below); a file not here: 0.3 s a test,
#: 4 s a Slurm test.
FILE_SECONDS = {
    "tests/slurm/test_walk_away.py": 80, "tests/test_never_lose.py": 80, "tests/slurm/test_backend.py": 70,
    "tests/plugin/test_example_app.py": 70, "tests/slurm/test_node.py": 82, "tests/test_run_e2e.py": 35,
    "tests/test_status_retry_cancel.py": 25, "tests/test_sweep_cli.py": 25, "tests/slurm/test_faults.py": 25,
    "tests/plugin/test_any_sweeper.py": 25, "tests/plugin/test_timeout.py": 25, "tests/test_readme.py": 25,
    "tests/slurm/test_cluster_power.py": 22, "tests/plugin/test_hydra_suites.py": 20,
    "tests/plugin/test_plan_ahead.py": 18, "tests/test_syntax_properties.py": 15,
    "tests/plugin/test_closed_stdout.py": 14,
    "tests/test_executor.py": 10, "tests/test_results.py": 10, "tests/slurm/test_sweep_verb.py": 9,
    "tests/test_manifest.py": 8, "tests/plugin/test_resume.py": 20, "tests/plugin/test_return_values.py": 20,
    "tests/plugin/test_default_launcher.py": 22, "tests/test_jobfile.py": 8,
    "tests/test_unwritable.py": 8,
    "tests/test_original_schema.py": 8,
    "tests/plugin/test_versions.py": 8, "tests/plugin/test_install.py": 7,
    "tests/slurm/test_cluster.py": 7, "tests/test_syntax.py": 6, "tests/test_cli.py": 6, "tests/test_signals.py": 6,
    "tests/plugin/test_compose.py": 6, "tests/plugin/test_exec.py": 6, "tests/slurm/test_submit_job.py": 3,
    "tests/plugin/test_lean_conformance.py": 25, "tests/plugin/test_lean_parts.py": 4,
}
#: Tests (all their parameters) that are units of their own, and their expected seconds.
ALONE_SECONDS = {
    "tests/slurm/test_faults.py::test_a_time_limit_below_the_signal_delay_is_named_and_the_run_times_out": 95,
    "tests/slurm/test_backend.py::test_a_timed_out_task_is_requeued_and_runs_only_what_had_not_completed": 35,
    "tests/test_run_e2e.py::test_a_batch_past_the_jobs_time_limit_times_out_alone": 26,
    "tests/slurm/test_faults.py::test_a_failing_runs_task_is_failed_in_sacct_and_pending_tasks_scancelled_show_"
    "cancelled": 22,
    "tests/slurm/test_faults.py::test_a_one_run_sweep_cancelled_ends_the_launcher_and_its_retry_completes": 20,
}
SLURM_TESTS = "tests/slurm/"
ALONE_UNIT = "tests that take the Slurm cluster alone"
SCHEDULE_DIR = "HYDRAFLOW_TEST_SCHEDULE_DIR"
_schedule_dir = pytest.StashKey[str]()


def _ordering(config) -> bool:
    return config.getoption("dist", "no") == "loadfile" and bool(config.getoption("numprocesses", None))


def pytest_configure(config):
    if _ordering(config) and not hasattr(config, "workerinput"):  # xdist's controller, before its workers start
        config.stash[_schedule_dir] = os.environ[SCHEDULE_DIR] = tempfile.mkdtemp(prefix="hydraflow-schedule-")


def pytest_unconfigure(config):
    if _schedule_dir in config.stash:
        shutil.rmtree(config.stash[_schedule_dir], ignore_errors=True)
        os.environ.pop(SCHEDULE_DIR, None)


@pytest.hookimpl(trylast=True)  # after tests/slurm/conftest.py marked them
def pytest_collection_modifyitems(config, items):
    directory = os.environ.get(SCHEDULE_DIR)
    if directory and hasattr(config, "workerinput") and os.path.isdir(directory):
        ids = "".join(f"{item.nodeid}\n" for item in items if item.get_closest_marker("slurm_alone"))
        name = Path(directory) / f"alone-{config.workerinput['workerid']}"
        name.with_suffix(".tmp").write_text(ids)
        name.with_suffix(".tmp").replace(name.with_suffix(".txt"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if not _ordering(config):
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        alone = None  # the ids of the slurm_alone tests
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            if self.alone is None:  # every worker has collected (and written the file) by now
                files = sorted(Path(os.environ.get(SCHEDULE_DIR, "/nonexistent")).glob("alone-*.txt"))
                self.alone = set(files[0].read_text().split("\n")) - {""} if files else set()
            if nodeid in self.alone:
                return ALONE_UNIT
            test = nodeid.split("[", 1)[0]
            return test if test in ALONE_SECONDS else super()._split_scope(nodeid)

        def _order(self) -> None:
            def seconds(unit) -> float:
                scope, tests = unit
                if scope == ALONE_UNIT:
                    return float("inf")
                guess = (4 if scope.startswith(SLURM_TESTS) else 0.3) * len(tests)
                return ALONE_SECONDS.get(scope) or FILE_SECONDS.get(scope, guess)

            self.workqueue = type(self.workqueue)(sorted(self.workqueue.items(), key=seconds, reverse=True))
            self.ordered = True

        def _alone_pending(self) -> bool:
            return any(not all(work.get(ALONE_UNIT, {}).values()) for work in self.assigned_work.values())

        def _behind_a_long_test(self, node) -> bool:
            """Whether the node's one test left is a long one (a worker holds the next unit while it runs)."""
            left = [scope for scope, tests in self.assigned_work[node].items() for done in tests.values() if not done]
            return len(left) == 1 and (left[0] == ALONE_UNIT or left[0] in ALONE_SECONDS)

        def _assign_work_unit(self, node) -> None:
            if not self.ordered:  # the whole queue exists from the first assignment on
                self._order()
            scopes = list(self.workqueue)
            if self._alone_pending():  # the cluster is taken: units without Slurm, if any are left
                scopes = [s for s in scopes if not s.startswith(SLURM_TESTS)] or scopes
            # Behind a long test the smallest unit waits (then the node takes the next one as usual).
            self.workqueue.move_to_end(scopes[-1] if self._behind_a_long_test(node) else scopes[0], last=False)
            super()._assign_work_unit(node)

        def _reschedule(self, node) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    return LongestFirst(config, log)
