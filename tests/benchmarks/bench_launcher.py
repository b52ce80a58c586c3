"""Benchmark: hydraflow's Hydra launcher against Hydra's basic, joblib and submitit launchers.

Run from the repository root (a report, not a pytest test; always exits 0)::

    python tests/benchmarks/bench_launcher.py          # full run, ~5-10 min
    python tests/benchmarks/bench_launcher.py --quick  # smaller sweeps, 2 repetitions

The first run creates its own virtual environment, ``tests/benchmarks/.venv``
(the project installed editable, plus hydra-joblib-launcher and
hydra-submitit-launcher from PyPI), and re-executes itself with it; later runs
reuse it. Scratch files (a trivial Hydra app and its sweep dirs) go to
``tests/benchmarks/work/``.

What it measures (every sweep is ``python app.py -m '+x=range(0,N)'`` in a
fresh ``hydra.sweep.dir``; the task returns ``cfg.x`` at once):

1. Per-run overhead: the slope of wall time between two sweep sizes (startup
   cancels out), launchers interleaved within each repetition; the median
   over repetitions, and its ratio to Hydra's basic launcher.
2. CPU-bound speed-up: wall time of 8 runs of ~0.5 s of pure-Python arithmetic
   (``+cpu=true``) with hydraflow max_parallel=1 against max_parallel=2 (and
   joblib n_jobs=2). Also the same ratio with the startup (a 1-run sweep)
   subtracted from both.
3. A 100k-run sweep: time from process start until ``<sweep dir>/0`` appears
   (waiting at most 60 s), then ~10 s of running with the parent's VmRSS
   sampled every 0.5 s; peak RSS and the run dirs created; then the process
   group is killed.

Targets: hydraflow in-process per-run <= 0.4x basic; hydraflow max_parallel=2
per-run <= 0.3x joblib; CPU-bound speed-up >= 1.8x; first run of the 100k
sweep <= 5 s; parent memory <= 300 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
WORK = HERE / "work"
VPY = VENV / "bin" / "python"
PACKAGES = ["-e", str(ROOT), "hydra-joblib-launcher", "hydra-submitit-launcher"]


def ensure_venv() -> None:
    """Re-exec inside tests/benchmarks/.venv, creating and filling it first when needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    (HERE / ".gitignore").write_text(".venv/\nwork/\n")
    marker = VENV / ".bench-installed"
    if not marker.exists():
        print(f"creating {VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VPY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(VPY), "-m", "pip", "install", "-q", *PACKAGES], check=True)
        marker.write_text("ok\n")
    os.execv(str(VPY), [str(VPY), str(Path(__file__).resolve()), *sys.argv[1:]])


SPIN = """
def spin(n):
    t = 0
    for i in range(n):
        t = (t + i * i) % 1000003
    return t
"""

APP = SPIN + """
import hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    if cfg.get("cpu"):
        spin(SPIN_N)
    return cfg.get("x")

if __name__ == "__main__":
    main()
"""

LAUNCHERS = {  # name -> overrides
    "basic": ["hydra/launcher=basic"],
    "joblib n_jobs=2": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local"],
    "hydraflow": ["hydra/launcher=hydraflow"],
    "hydraflow max_parallel=2": ["hydra/launcher=hydraflow", "hydra.launcher.max_parallel=2"],
}
_counter = iter(range(10**9))


def write_app() -> None:
    ns: dict = {}
    exec(SPIN, ns)
    t = time.perf_counter()
    ns["spin"](2_000_000)
    n = int(2_000_000 * 0.5 / (time.perf_counter() - t))  # iterations for ~0.5 s
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "app.py").write_text(APP.replace("SPIN_N", str(n)))


def run_dirs(sweep: Path) -> int:
    return sum(1 for p in sweep.iterdir() if p.name.isdigit()) if sweep.exists() else 0


def sweep(overrides: list, n: int, extra=()) -> float:
    """Wall time of one multirun of n runs (NaN, with the error printed, when it fails)."""
    d = WORK / f"sweep-{next(_counter)}"
    cmd = [sys.executable, "app.py", "-m", *overrides, *extra, f"+x=range(0,{n})", f"hydra.sweep.dir={d}"]
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    done = run_dirs(d)
    shutil.rmtree(d, ignore_errors=True)
    if p.returncode != 0 or done != n:
        print(f"  FAILED ({p.returncode}, {done}/{n} dirs): {' '.join(cmd[2:])}\n{p.stderr[-1500:]}", flush=True)
        return float("nan")
    return wall


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def big_sweep(overrides: list, cap: float, run_for: float) -> dict:
    """The 100k-run sweep: time to the first run dir, then parent peak RSS and dirs after run_for s."""
    d = WORK / f"sweep-{next(_counter)}"
    cmd = [sys.executable, "app.py", "-m", *overrides, "+x=range(0,100000)", f"hydra.sweep.dir={d}"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    first, peak, next_sample = None, 0.0, t0
    while p.poll() is None:
        now = time.perf_counter()
        if now >= next_sample:
            peak, next_sample = max(peak, rss_mb(p.pid)), next_sample + 0.5
        if first is None and (d / "0").exists():
            first, stop = now - t0, now + run_for
        if (first is None and now - t0 > cap) or (first is not None and now > stop):
            break
        time.sleep(0.01)
    dirs = run_dirs(d)
    exited = p.poll()
    if exited is None:
        os.killpg(p.pid, signal.SIGKILL)  # the whole process group: the sweep and its workers
    p.wait()
    shutil.rmtree(d, ignore_errors=True)
    return {"first": first, "peak": peak, "dirs": dirs, "exited": exited}


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sweeps, 2 repetitions")
    quick = ap.parse_args().quick
    ensure_venv()
    reps = 2 if quick else 3
    small, large = (5, 25) if quick else (10, 60)
    sizes = {name: ((3, 9) if quick else (5, 15)) if name == "submitit_local" else (small, large)
             for name in LAUNCHERS}
    cap, run_for = (60.0, 5.0) if quick else (60.0, 10.0)
    shutil.rmtree(WORK, ignore_errors=True)
    write_app()
    print(f"python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} cores, {reps} repetitions")

    print("\n1. per-run overhead (ms/run, slope between two sweep sizes)", flush=True)
    slopes = {name: [] for name in LAUNCHERS}
    for rep in range(reps):
        for name, ov in LAUNCHERS.items():
            a, b = sizes[name]
            ta, tb = sweep(ov, a), sweep(ov, b)
            slopes[name].append((tb - ta) / (b - a) * 1000)
            print(f"  rep {rep + 1} {name:26s} N={a}: {ta:6.2f} s  N={b}: {tb:6.2f} s"
                  f"  -> {slopes[name][-1]:6.1f} ms/run", flush=True)
    slope = {name: med(v) for name, v in slopes.items()}

    print("\n2. CPU-bound runs (+cpu=true, ~0.5 s each, 8 runs)", flush=True)
    cpu = {"hydraflow max_parallel=1": LAUNCHERS["hydraflow"],
           "hydraflow max_parallel=2": LAUNCHERS["hydraflow max_parallel=2"],
           "joblib n_jobs=2": LAUNCHERS["joblib n_jobs=2"]}
    walls = {name: [] for name in cpu}
    starts = {name: [] for name in cpu}
    for rep in range(reps):
        for name, ov in cpu.items():
            walls[name].append(sweep(ov, 8, ["+cpu=true"]))
            starts[name].append(sweep(ov, 1))
            print(f"  rep {rep + 1} {name:26s} 8 runs: {walls[name][-1]:6.2f} s"
                  f"  (1 trivial run: {starts[name][-1]:5.2f} s)", flush=True)
    wall = {name: med(v) for name, v in walls.items()}
    start = {name: med(v) for name, v in starts.items()}
    net = {name: wall[name] - start[name] for name in cpu}
    speedup = wall["hydraflow max_parallel=1"] / wall["hydraflow max_parallel=2"]
    speedup_net = net["hydraflow max_parallel=1"] / net["hydraflow max_parallel=2"]
    speedup_joblib = wall["hydraflow max_parallel=1"] / wall["joblib n_jobs=2"]

    print(f"\n3. 100k-run sweep (first run, then {run_for:.0f} s of running; first run capped at {cap:.0f} s)",
          flush=True)
    big = {}
    for name in ("hydraflow", "hydraflow max_parallel=2", "basic"):
        big[name] = r = big_sweep(LAUNCHERS[name], cap, run_for)
        first = f"{r['first']:.2f} s" if r["first"] is not None else f"> {cap:.0f} s"
        print(f"  {name:26s} first run: {first:>8s}  parent peak RSS: {r['peak']:6.1f} MB"
              f"  run dirs: {r['dirs']}" + (f"  (exited early: {r['exited']})" if r["exited"] is not None else ""),
              flush=True)

    def verdict(ok):
        return "PASS" if ok else "FAIL"

    def fmt_first(r):
        return f"{r['first']:.2f} s" if r["first"] is not None else f"> {cap:.0f} s"

    rows = []
    for name in LAUNCHERS:
        per = " / ".join(f"{s:.1f}" for s in slopes[name])
        rows.append((f"per-run overhead, {name}", f"{slope[name]:.1f} ms ({per})",
                     f"{slope[name] / slope['basic']:.2f}x basic", ""))
    r_flow = slope["hydraflow"] / slope["basic"]
    r_mp2 = slope["hydraflow max_parallel=2"] / slope["joblib n_jobs=2"]
    rows.append(("hydraflow in-process / basic", f"{r_flow:.2f}x", "<= 0.4x", verdict(r_flow <= 0.4)))
    rows.append(("hydraflow max_parallel=2 / joblib", f"{r_mp2:.2f}x", "<= 0.3x", verdict(r_mp2 <= 0.3)))
    for name in cpu:
        rows.append((f"8 CPU-bound runs, {name}", f"{wall[name]:.2f} s", f"net of 1-run sweep {net[name]:.2f} s", ""))
    rows.append(("CPU speed-up max_parallel=2 (wall)", f"{speedup:.2f}x", ">= 1.8x", verdict(speedup >= 1.8)))
    rows.append(("CPU speed-up max_parallel=2 (net)", f"{speedup_net:.2f}x", "(info)", ""))
    rows.append(("CPU speed-up joblib n_jobs=2 (wall)", f"{speedup_joblib:.2f}x", "(info)", ""))
    for name, r in big.items():
        target = name != "basic"
        ok_first = r["first"] is not None and r["first"] <= 5
        rows.append((f"100k sweep first run, {name}", fmt_first(r), "<= 5 s" if target else "(info)",
                     verdict(ok_first) if target else ""))
        rows.append((f"100k sweep parent peak RSS, {name}", f"{r['peak']:.1f} MB",
                     "<= 300 MB" if target else "(info)", verdict(r["peak"] <= 300) if target else ""))
        rows.append((f"100k sweep run dirs, {name}", str(r["dirs"]), "(info)", ""))

    print("\nSUMMARY")
    w = [max(len(row[i]) for row in rows) for i in range(4)]
    line = "+".join("-" * (x + 2) for x in w)
    heads = ("measure", "value (per-rep)", "target / ratio", "")
    print(" | ".join(h.ljust(x) for h, x in zip(heads, w)))
    print(line)
    for row in rows:
        print(" | ".join(c.ljust(x) for c, x in zip(row, w)))
    fails = sum(row[3] == "FAIL" for row in rows)
    print(f"\n{sum(row[3] == 'PASS' for row in rows)} PASS, {fails} FAIL")
    shutil.rmtree(WORK / "outputs", ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # a report: never fail the caller
        import traceback

        traceback.print_exc()
        print(f"benchmark aborted: {error}")
    sys.exit(0)
