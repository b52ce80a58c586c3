"""A node's GPUs and CPUs in shares, one per worker (parallel_per_task), and workers that use them."""

from __future__ import annotations

import os

import pytest

from hydraflow_core.executors import FunctionWork, Options, create
from hydraflow_core.executors.base import RunResult
from hydraflow_core.executors.local.shares import Shares, node_shares, split, worker_env
from hydraflow_core.manifest import COMPLETED
from hydraflow_core.plan import Run, pack


@pytest.mark.parametrize("items, parts, expected", [
    pytest.param([0, 1, 2, 3], 2, [(0, 1), (2, 3)], id="even"),
    pytest.param([0, 1, 2, 3, 4], 2, [(0, 1, 2), (3, 4)], id="the-first-larger"),
    pytest.param([0, 1, 2, 3, 4, 5, 6], 3, [(0, 1, 2), (3, 4), (5, 6)], id="three"),
    pytest.param([4, 5], 2, [(4,), (5,)], id="one-each"),
    pytest.param([0], 3, [(0,), (0,), (0,)], id="fewer-than-parts-shared"),
    pytest.param([0, 1], 3, [(0,), (1,), (0,)], id="fewer-than-parts-in-turn"),
    pytest.param([], 2, [], id="none"),
    pytest.param([7, 8, 9], 1, [(7, 8, 9)], id="one-part"),
])
def test_split(items, parts, expected):
    assert split(items, parts) == expected


def test_split_refuses_no_parts():
    with pytest.raises(ValueError, match="at least 1"):
        split([1], 0)


@pytest.mark.parametrize("parts, visible, cpus, expected", [
    pytest.param(2, "0,1,2,3", [0, 1, 2, 3], Shares(("0,1", "2,3"), ((0, 1), (2, 3))), id="gpus-and-cpus"),
    pytest.param(2, "", [3, 1], Shares((), ((1,), (3,))), id="no-gpus-cpus-sorted"),
    pytest.param(2, "GPU-a, GPU-b", [0, 1], Shares(("GPU-a", "GPU-b"), ((0,), (1,))), id="uuids"),
    pytest.param(3, "5", [0, 1, 2, 3], Shares(("5", "5", "5"), ((0, 1), (2,), (3,))), id="one-gpu-shared"),
    pytest.param(1, "0,1", [0, 1], Shares(), id="one-run-at-a-time-the-whole-task"),
])
def test_node_shares(parts, visible, cpus, expected):
    assert node_shares(parts, {"CUDA_VISIBLE_DEVICES": visible} if visible else {}, cpus) == expected


@pytest.mark.parametrize("share, env, expected", [
    pytest.param((0, 1), {}, {"OMP_NUM_THREADS": "2"}, id="its-share"),
    pytest.param((0, 1), {"OMP_NUM_THREADS": "8"}, {}, id="the-users-setting-wins"),
    pytest.param((), {}, {}, id="not-pinned"),
])
def test_worker_env(share, env, expected):
    assert worker_env(share, env) == expected


class Where:
    """A run function that reports where it ran (forked workers: nothing is pickled in)."""

    def prepare(self, run):
        return {}

    def execute(self, run, prepared):
        affinity = sorted(os.sched_getaffinity(0))
        return RunResult(run, COMPLETED, returned={
            "pid": os.getpid(), "cpus": affinity, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "omp": os.environ.get("OMP_NUM_THREADS")})


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to pin workers to different ones")
def test_workers_pin_themselves_to_their_share(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cpus = sorted(os.sched_getaffinity(0))[:2]
    shares = node_shares(2, {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, cpus)
    executor = create("local", FunctionWork(Where()), Options(max_parallel=2, gpus=shares.gpus, cpus=shares.cpus))
    runs = [Run(n, (f"x={n}",), 0) for n in range(6)]
    try:
        seen = {r.returned["pid"]: r.returned for r in executor.stream(pack(runs, 1))}
    finally:
        executor.close()
    assert sorted((r["cpus"], r["cuda"], r["omp"]) for r in seen.values()) == \
        [([cpus[0]], "0,1", "1"), ([cpus[1]], "2,3", "1")]
    assert os.sched_getaffinity(0) >= set(cpus)  # the parent is not pinned
