"""The run plan: numbering, packing and chunking (pure; tables)."""

from __future__ import annotations

import itertools

import pytest

from hydraflow_core.plan import Run, chunks, group_chunks, number_runs, pack, plan


def _groups(*sizes):
    return [[[f"g={g}", f"i={i}"] for i in range(size)] for g, size in enumerate(sizes)]


def _shape(tasks):
    return [(t.index, t.group, t.numbers) for t in tasks]


@pytest.mark.parametrize(
    "sizes, runs_per_task, expected",
    [
        pytest.param((3,), 1, [(0, 0, (0,)), (1, 0, (1,)), (2, 0, (2,))], id="one-per-task"),
        pytest.param((5,), 2, [(0, 0, (0, 1)), (1, 0, (2, 3)), (2, 0, (4,))], id="packed-last-short"),
        pytest.param((2, 3), 2, [(0, 0, (0, 1)), (1, 1, (2, 3)), (2, 1, (4,))], id="never-across-groups"),
        pytest.param((1, 1, 1), 5, [(0, 0, (0,)), (1, 1, (1,)), (2, 2, (2,))], id="one-run-groups"),
        pytest.param((0, 2), 4, [(0, 1, (0, 1))], id="empty-group-skipped"),
        pytest.param((), 3, [], id="no-runs"),
    ],
)
def test_plan_numbers_and_packs(sizes, runs_per_task, expected):
    assert _shape(plan(_groups(*sizes), runs_per_task)) == expected


def test_plan_keeps_overrides_in_order():
    tasks = list(plan(_groups(2, 1), 1))
    assert [t.runs[0].overrides for t in tasks] == [("g=0", "i=0"), ("g=0", "i=1"), ("g=1", "i=0")]


@pytest.mark.parametrize(
    "numbers, runs_per_task, expected",
    [
        pytest.param([3, 17, 42], 2, [(0, 0, (3, 17)), (1, 0, (42,))], id="replay-chosen-runs"),
        pytest.param([1, 2, 9], 1, [(0, 0, (1,)), (1, 0, (2,)), (2, 0, (9,))], id="replay-one-each"),
    ],
)
def test_pack_replays_recorded_numbers(numbers, runs_per_task, expected):
    runs = [Run(n, (f"x={n}",), 0) for n in numbers]
    assert _shape(pack(runs, runs_per_task)) == expected


def test_plan_is_lazy_for_a_huge_sweep():
    huge = [(["a=%d" % i] for i in itertools.count())]  # an endless group
    first = list(itertools.islice(plan(huge, 4), 2))
    assert _shape(first) == [(0, 0, (0, 1, 2, 3)), (1, 0, (4, 5, 6, 7))]


@pytest.mark.parametrize(
    "call, message",
    [
        pytest.param(lambda: list(pack([], 0)), "runs_per_task must be at least 1, not 0", id="pack-zero"),
        pytest.param(lambda: list(chunks([1], 0)), "a chunk size must be at least 1, not 0", id="chunk-zero"),
    ],
)
def test_bad_sizes(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message


def test_chunks_and_group_chunks():
    assert list(chunks(range(5), 2)) == [[0, 1], [2, 3], [4]]
    runs = list(number_runs(_groups(3, 2)))
    assert [[r.number for r in c] for c in group_chunks(runs, 2)] == [[0, 1], [2], [3, 4]]
