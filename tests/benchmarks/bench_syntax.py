"""Benchmark: hydraflow's sweep expansion against Hydra's own, side by side.

Run from the repository root (a report, not a pytest test; always exits 0)::

    python tests/benchmarks/bench_syntax.py          # 10^6-run grid
    python tests/benchmarks/bench_syntax.py --quick  # 10^5-run grid, smoke test

What it measures:

1. Expanding a grid of 10^6 runs (``a=range(0,100) b=range(0,100)
   c=range(0,100)``): Hydra's ``OverridesParser.parse_overrides`` +
   ``BasicSweeper.split_arguments`` against ``hydraflow_core.expand(["a=0:99",
   "b=0:99", "c=0:99"])``, both consumed completely (runs counted, not kept).
   Wall time is the best of 3 interleaved repeats (time.perf_counter); peak
   Python memory (tracemalloc) is taken in a separate pass so tracing does not
   distort the timings, at 10^4, 10^5 and 10^6 runs to show whether it is flat.
2. ``count`` of a 10^12-run sweep (``a=1:1000`` .. ``d=1:1000``): best of 20
   calls after one warm-up call (imports and parser creation excluded).
3. Time to the first run of that sweep: ``next(expand(...))``, best of 20.

Targets: hydraflow time <= Hydra's (ratio <= 1.0); hydraflow memory flat
(peak at the largest grid <= 2x the smallest); count < 10 ms; first run < 1 s.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from hydraflow_core import count, expand

MIB = 1024 * 1024
# Runs -> the three axis sizes of a grid with that many runs.
GRIDS = {10**3: (100, 10, 1), 10**4: (100, 100, 1), 10**5: (100, 100, 10), 10**6: (100, 100, 100)}
HUGE = ["a=1:1000", "b=1:1000", "c=1:1000", "d=1:1000"]  # 10^12 runs


def hydra_args(sizes):
    return [f"{k}=range(0,{n})" for k, n in zip("abc", sizes)]


def hydraflow_args(sizes):
    return [f"{k}=0:{n - 1}" for k, n in zip("abc", sizes)]


def run_hydra(sizes) -> int:
    overrides = OverridesParser.create().parse_overrides(hydra_args(sizes))
    return sum(len(batch) for batch in BasicSweeper.split_arguments(overrides, None))


def run_hydraflow(sizes) -> int:
    return sum(1 for _ in expand(hydraflow_args(sizes)))


def timed(fn, *args):
    gc.collect()
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def peak(fn, *args) -> int:
    """Peak bytes traced by tracemalloc while ``fn(*args)`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def best_ms(fn, repeats=20) -> float:
    fn()  # warm-up: imports, parser creation
    return 1000 * min(timed(fn)[0] for _ in range(repeats))


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--quick", action="store_true", help="10^5-run grid instead of 10^6")
    sizes_runs = [10**3, 10**4, 10**5] if cli.parse_args().quick else [10**4, 10**5, 10**6]
    n = sizes_runs[-1]
    grid = GRIDS[n]
    run_hydra(GRIDS[10**3]), run_hydraflow(GRIDS[10**3])  # warm-up both

    print(f"[1] expanding a {n:,}-run grid: {' '.join(hydra_args(grid))}")
    times = {"hydra": [], "hydraflow": []}
    for i in range(3):  # interleaved
        for name, fn in (("hydra", run_hydra), ("hydraflow", run_hydraflow)):
            seconds, runs = timed(fn, grid)
            assert runs == n, f"{name} produced {runs} runs, expected {n}"
            times[name].append(seconds)
            print(f"    repeat {i + 1}  {name:<9} {seconds:8.3f} s")
    t_hydra, t_flow = min(times["hydra"]), min(times["hydraflow"])

    print("    peak memory (tracemalloc, separate pass):")
    peaks = {"hydra": {}, "hydraflow": {}}
    for runs in sizes_runs:
        for name, fn in (("hydra", run_hydra), ("hydraflow", run_hydraflow)):
            peaks[name][runs] = peak(fn, GRIDS[runs])
        print(f"    {runs:>12,} runs  hydra {peaks['hydra'][runs] / MIB:9.2f} MiB"
              f"   hydraflow {peaks['hydraflow'][runs] / MIB:7.3f} MiB")

    print(f"[2] count({HUGE})")
    total = count(HUGE)
    t_count = best_ms(lambda: count(HUGE))
    print(f"    = {total:,}  best of 20: {t_count:.3f} ms")
    print(f"[3] next(expand({HUGE}))")
    first = next(expand(HUGE))
    t_first = best_ms(lambda: next(expand(HUGE)))
    print(f"    = {first}  best of 20: {t_first:.3f} ms")

    ratio = t_flow / t_hydra
    flat = peaks["hydraflow"][n] / peaks["hydraflow"][sizes_runs[0]]
    rows = [
        (f"time, {n:,} runs (best of 3)", f"{t_hydra:.3f} s", f"{t_flow:.3f} s",
         f"ratio {ratio:.3f} <= 1.0", ratio <= 1.0),
        (f"peak memory, {n:,} runs", f"{peaks['hydra'][n] / MIB:.2f} MiB",
         f"{peaks['hydraflow'][n] / MIB:.3f} MiB", "-", None),
        (f"memory flat {sizes_runs[0]:,} -> {n:,} runs",
         f"x{peaks['hydra'][n] / peaks['hydra'][sizes_runs[0]]:.1f}", f"x{flat:.2f}",
         "hydraflow <= x2", flat <= 2.0),
        ("count, 10^12 runs", "-", f"{t_count:.3f} ms", "< 10 ms, == 10**12",
         t_count < 10 and total == 10**12),
        ("first run, 10^12 runs", "-", f"{t_first:.3f} ms", "< 1000 ms", t_first < 1000),
    ]
    header = ("measure", "hydra", "hydraflow", "target", "verdict")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
    print("\nSummary")
    for row in [header] + rows:
        verdict = row[4] if row is header else {True: "PASS", False: "FAIL", None: "info"}[row[4]]
        print("  " + "  ".join(f"{c:<{w}}" for c, w in zip(row[:4], widths)) + f"  {verdict}")
    failed = [r[0] for r in rows if r[4] is False]
    print(f"\nOverall: {'FAIL: ' + ', '.join(failed) if failed else 'PASS'}")


if __name__ == "__main__":
    main()
