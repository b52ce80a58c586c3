"""Benchmark: hydraflow's Hydra launcher against Hydra's basic, joblib and submitit launchers.

Run from the repository root (a report, not a pytest test; always exits 0)::

    python tests/benchmarks/bench_launcher.py          # ~6 min
    python tests/benchmarks/bench_launcher.py --quick  # smaller sweeps, 2 repetitions, ~3 min

It creates (or reuses) ``tests/benchmarks/.venv`` with the project (editable),
hydra-joblib-launcher and hydra-submitit-launcher, and re-executes itself with
it. In ``tests/benchmarks/work/`` it writes a trivial Hydra app whose task
returns ``cfg.x`` (after ~0.5 s of pure-Python arithmetic with ``+cpu=true``),
swept as ``-m '+x=range(0,N)'`` in a fresh sweep dir each time.

1. Per-run overhead: the slope of wall time between two sweep sizes, every
   launcher in turn in each repetition; median over repetitions.
2. Wall time of 16 CPU-bound runs, hydraflow max_parallel=1 vs 2 (and joblib
   n_jobs=2); also net of startup (a 1-run trivial sweep).
3. A 100k-run sweep: time from process start to ``<sweep dir>/0`` (at most 60 s),
   then ~10 s more with the parent's VmRSS sampled every 0.5 s; then killed.
4. ``hydraflow status`` on a 10^5-run sweep's manifest (plan and a start and an
   end event per run, written by hydraflow's own writer): reading it in
   process, and the whole command (interpreter start included), table and --json.
5. ``hydraflow results`` on a 10^5-run sweep whose runs returned ``{"loss", "acc": {"top1"}}`` (two swept
   keys): the table, sorted, --json; and the table of the sweep of 4., whose runs returned nothing.

Targets: hydraflow in-process per-run <= 0.15x basic (with the manifest written), with two workers
(max_parallel=2) <= 0.10x basic and <= 0.3x joblib -- on the lean run path, the default; lean=false (every run
through Hydra's run_job) is shown beside it; CPU-bound speed-up >= 1.8x; first run of the 100k
sweep <= 5 s; parent peak RSS <= 300 MB; status of 10^5 runs read < 1 s (the table command too); results
of 10^5 runs, the table command <= 2 s. "CPU used by other processes" gauges noise.
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
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
WORK = HERE / "work"
VPY = VENV / "bin" / "python"
# hydra-core pinned: the figures compare launchers on one Hydra (a release candidate of the next
# one, which pip may otherwise pick, costs every launcher 2-3x per run).
PACKAGES = ["-e", str(ROOT), "hydra-core==1.3.8", "omegaconf<2.4", "hydra-joblib-launcher", "hydra-submitit-launcher"]


def ensure_venv() -> None:
    """Re-exec inside tests/benchmarks/.venv, creating and filling it first when needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    (HERE / ".gitignore").write_text(".venv/\nwork/\n")
    marker = VENV / ".bench-installed"
    if not marker.exists():
        print(f"creating {VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VPY), "-m", "pip", "install", "-q", *PACKAGES], check=True)
        marker.write_text("ok\n")
    os.execv(str(VPY), [str(VPY), str(Path(__file__).resolve()), *sys.argv[1:]])


SPIN = "def spin(n):\n    t = 0\n    for i in range(n):\n        t = (t + i * i) % 1000003\n    return t\n"
APP = SPIN + """import hydra

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
    "hydraflow lean=false": ["hydra/launcher=hydraflow", "hydra.launcher.lean=false"],
    "hydraflow max_parallel=2": ["hydra/launcher=hydraflow", "hydra.launcher.max_parallel=2"],
    "hydraflow max_parallel=2 lean=false": ["hydra/launcher=hydraflow", "hydra.launcher.max_parallel=2",
                                            "hydra.launcher.lean=false"],
}
# hydraflow's lean run path (the default) and Hydra's own run_job (lean=false), side by side
_counter = iter(range(10**9))
PF = ("FAIL", "PASS")
CPU_RUNS = 16  # enough that Hydra's own start-up (~0.35 s, paid once either way) does not decide the speed-up


def write_app() -> None:
    ns: dict = {}
    exec(SPIN, ns)
    t = time.perf_counter()
    ns["spin"](2_000_000)
    n = int(1_000_000 / (time.perf_counter() - t))  # iterations for ~0.5 s
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "app.py").write_text(APP.replace("SPIN_N", str(n)))
    global SPIN_ITERATIONS
    SPIN_ITERATIONS = n


def ceiling() -> float:
    """This machine's own limit: CPU_RUNS spins in 1 process vs 2 forked processes, no Hydra."""
    ns: dict = {}
    exec(SPIN, ns)

    def timed(procs: int) -> float:
        t, pids = time.perf_counter(), []
        for _ in range(procs):
            pid = os.fork()
            if pid == 0:
                for _ in range(CPU_RUNS // procs):
                    ns["spin"](SPIN_ITERATIONS)
                os._exit(0)
            pids.append(pid)
        for pid in pids:
            os.waitpid(pid, 0)
        return time.perf_counter() - t

    return timed(1) / timed(2)


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
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    return next((int(x.split()[1]) / 1024 for x in lines if x.startswith("VmRSS:")), 0.0)


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
    if (exited := p.poll()) is None:
        os.killpg(p.pid, signal.SIGKILL)  # the whole process group: the sweep and its workers
    p.wait()
    shutil.rmtree(d, ignore_errors=True)
    return {"first": first, "peak": peak, "dirs": dirs, "exited": exited}


def foreign_cpu() -> float:
    """CPU seconds used so far on this machine by processes other than this benchmark's."""
    f = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    busy = (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / os.sysconf("SC_CLK_TCK")
    return busy - sum(os.times()[:4])  # minus this process's and its reaped children's CPU time


def write_sweep(sweep_dir: Path, runs: int, returned: bool) -> None:
    """A ``runs``-run sweep's manifest as hydraflow's own writer writes it (every 1000th run failed); with
    ``returned``, two swept keys and each run's return value ``{"loss", "acc": {"top1"}}``."""
    from hydraflow_core.manifest import EventLog, Manifest

    shutil.rmtree(sweep_dir, ignore_errors=True)
    record = Manifest(sweep_dir)
    record.create({"kind": "sweep", "runs": runs})
    for start in range(0, runs, 1000):
        record.add_plan({"run": n, "overrides": [f"+x={n}", f"lr={n % 10 / 1000}" if returned else "lr=0.001",
                                                 "model=small"], "group": 0, "task": n}
                        for n in range(start, min(runs, start + 1000)))
    events = EventLog(sweep_dir, record.begin_attempt({"kind": "launch"}))
    for n in range(runs):
        events.started(n, output_dir=f"{sweep_dir}/{n}", log=f"{sweep_dir}/{n}/app.log")
        if n % 1000 == 0:
            events.ended(n, "failed", "RuntimeError: boom")
        elif returned:
            events.ended(n, "completed", return_value={"loss": 1 / (n + 1), "acc": {"top1": n / runs}})
        else:
            events.ended(n, "completed")


def status_bench(runs: int, reps: int) -> dict:
    """Seconds to read a ``runs``-run manifest: in process, and as the ``hydraflow status`` command."""
    from hydraflow_core.manifest import read

    sweep_dir = WORK / "status-sweep"
    write_sweep(sweep_dir, runs, returned=False)
    hydraflow = str(Path(sys.executable).with_name("hydraflow"))
    out = {"read in process": [], "hydraflow status (command)": [], "hydraflow status --json (command)": []}
    for _ in range(reps):
        t = time.perf_counter()
        state = read(sweep_dir)
        out["read in process"].append(time.perf_counter() - t)
        assert len(state.runs) == runs
        for key, extra in (("hydraflow status (command)", []), ("hydraflow status --json (command)", ["--json"])):
            t = time.perf_counter()
            subprocess.run([hydraflow, "status", str(sweep_dir), *extra], capture_output=True)
            out[key].append(time.perf_counter() - t)
    return out


def results_bench(runs: int, reps: int) -> dict:
    """Seconds of ``hydraflow results`` on a ``runs``-run sweep whose runs returned two numbers: the table,
    the table sorted (the best lines), --json; and the table of one that returned nothing (each run's
    results.json looked for)."""
    sweep_dir, bare = WORK / "results-sweep", WORK / "status-sweep"
    write_sweep(sweep_dir, runs, returned=True)
    if not bare.exists():
        write_sweep(bare, runs, returned=False)
    hydraflow = str(Path(sys.executable).with_name("hydraflow"))
    commands = {"hydraflow results (table)": [sweep_dir],
                "hydraflow results --sort loss": [sweep_dir, "--sort", "loss"],
                "hydraflow results --json": [sweep_dir, "--json"],
                "hydraflow results, nothing returned": [bare]}
    out = {key: [] for key in commands}
    for _ in range(reps):
        for key, args in commands.items():
            t = time.perf_counter()
            done = subprocess.run([hydraflow, "results", *map(str, args)], capture_output=True)
            out[key].append(time.perf_counter() - t if done.returncode == 0 else float("nan"))
    return out


def med(xs):
    return statistics.median([x for x in xs if x == x] or [float("nan")])  # NaN: failed sweeps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sweeps, 2 repetitions")
    quick = ap.parse_args().quick
    ensure_venv()
    reps, (small, large), run_for, cap = (2, (5, 25), 5.0, 60.0) if quick else (3, (10, 60), 10.0, 60.0)
    sizes = {name: (small, large) for name in LAUNCHERS} | {"submitit_local": (3, 9) if quick else (5, 15)}
    shutil.rmtree(WORK, ignore_errors=True)
    write_app()
    print(f"python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} cores, {reps} repetitions")
    noise = []  # (CPU s used by other processes, wall s), per section

    print("\n1. per-run overhead (ms/run, slope between two sweep sizes)", flush=True)
    t, f = time.perf_counter(), foreign_cpu()
    slopes = {name: [] for name in LAUNCHERS}
    for rep in range(reps):
        for name, ov in LAUNCHERS.items():
            a, b = sizes[name]
            ta, tb = sweep(ov, a), sweep(ov, b)
            slopes[name].append((tb - ta) / (b - a) * 1000)
            print(f"  rep {rep + 1} {name:36s} N={a}: {ta:6.2f} s  N={b}: {tb:6.2f} s"
                  f"  -> {slopes[name][-1]:6.1f} ms/run", flush=True)
    noise.append((foreign_cpu() - f, time.perf_counter() - t))
    print(f"  CPU used by other processes meanwhile: {noise[-1][0]:.1f} s in {noise[-1][1]:.0f} s")
    slope = {name: med(v) for name, v in slopes.items()}

    print(f"\n2. CPU-bound runs (+cpu=true, ~0.5 s each, {CPU_RUNS} runs; and a 1-run trivial sweep for startup)",
          flush=True)
    cpu = {"hydraflow max_parallel=1": LAUNCHERS["hydraflow"], "hydraflow max_parallel=2":
           LAUNCHERS["hydraflow max_parallel=2"], "joblib n_jobs=2": LAUNCHERS["joblib n_jobs=2"]}
    t, f = time.perf_counter(), foreign_cpu()
    walls, starts = {name: [] for name in cpu}, {name: [] for name in cpu}
    ceilings = []
    for rep in range(reps):
        ceilings.append(ceiling())
        print(f"  rep {rep + 1} pure compute, 2 forked processes vs 1 (no Hydra): {ceilings[-1]:.2f}x", flush=True)
        for name, ov in cpu.items():
            walls[name].append(sweep(ov, CPU_RUNS, ["+cpu=true"]))
            starts[name].append(sweep(ov, 1))
            print(f"  rep {rep + 1} {name:26s} {CPU_RUNS} runs: {walls[name][-1]:6.2f} s"
                  f"  (1 trivial run: {starts[name][-1]:5.2f} s)", flush=True)
    noise.append((foreign_cpu() - f, time.perf_counter() - t))
    print(f"  CPU used by other processes meanwhile: {noise[-1][0]:.1f} s in {noise[-1][1]:.0f} s")
    wall = {name: med(v) for name, v in walls.items()}
    net = {name: wall[name] - med(starts[name]) for name in cpu}
    one, two = "hydraflow max_parallel=1", "hydraflow max_parallel=2"

    print(f"\n3. 100k-run sweep (first run capped at {cap:.0f} s, then {run_for:.0f} s of running)", flush=True)
    big = {}
    for name in ("hydraflow", "hydraflow lean=false", "hydraflow max_parallel=2", "basic"):
        big[name] = r = big_sweep(LAUNCHERS[name], cap, run_for)
        r["first_s"] = f"{r['first']:.2f} s" if r["first"] is not None else f"> {cap:.0f} s"
        early = f"  (exited early: {r['exited']})" if r["exited"] is not None else ""
        print(f"  {name:26s} first run: {r['first_s']:>8s}  parent peak RSS: {r['peak']:6.1f} MB"
              f"  run dirs: {r['dirs']}{early}", flush=True)

    print("\n4. hydraflow status on a 10^5-run sweep", flush=True)
    status = status_bench(100_000, reps)
    for key, values in status.items():
        print(f"  {key:34s} " + " / ".join(f"{v:.3f} s" for v in values), flush=True)

    print("\n5. hydraflow results on a 10^5-run sweep", flush=True)
    found = results_bench(100_000, reps)
    for key, values in found.items():
        print(f"  {key:38s} " + " / ".join(f"{v:.3f} s" for v in values), flush=True)

    rows = [(f"per-run overhead, {name}", f"{slope[name]:.1f} ms (" + " / ".join(f"{s:.1f}" for s in v) + ")",
             f"{slope[name] / slope['basic']:.2f}x basic", "") for name, v in slopes.items()]
    ratio = {name: slope[name] / slope["basic"] for name in slope}
    r_mp2 = slope["hydraflow max_parallel=2"] / slope["joblib n_jobs=2"]
    rows += [("hydraflow in-process / basic", f"{ratio['hydraflow']:.2f}x", "<= 0.15x",
              PF[ratio["hydraflow"] <= 0.15]),
             ("hydraflow max_parallel=2 / basic", f"{ratio['hydraflow max_parallel=2']:.2f}x", "<= 0.10x",
              PF[ratio["hydraflow max_parallel=2"] <= 0.10]),
             ("hydraflow in-process lean=false / basic", f"{ratio['hydraflow lean=false']:.2f}x", "(info: run_job)", ""),
             ("hydraflow max_parallel=2 lean=false / basic", f"{ratio['hydraflow max_parallel=2 lean=false']:.2f}x",
              "(info: run_job)", ""),
             ("hydraflow max_parallel=2 / joblib", f"{r_mp2:.2f}x", "<= 0.3x", PF[r_mp2 <= 0.3])]
    rows += [(f"{CPU_RUNS} CPU-bound runs, {name}", f"{wall[name]:.2f} s", f"{net[name]:.2f} s net of startup", "")
             for name in cpu]
    speedup = wall[one] / wall[two]
    rows += [("CPU speed-up max_parallel=2, wall", f"{speedup:.2f}x", ">= 1.8x", PF[speedup >= 1.8]),
             ("CPU speed-up max_parallel=2, net", f"{net[one] / net[two]:.2f}x", "(info)", ""),
             ("CPU speed-up joblib n_jobs=2, wall", f"{wall[one] / wall['joblib n_jobs=2']:.2f}x", "(info)", ""),
             ("CPU speed-up this machine allows", f"{med(ceilings):.2f}x", "(pure compute, info)", "")]
    for name, r in big.items():
        goal = name not in ("basic", "hydraflow lean=false")
        ok = r["first"] is not None and r["first"] <= 5
        rows += [(f"100k first run, {name}", r["first_s"], "<= 5 s" if goal else "(info)", PF[ok] if goal else ""),
                 (f"100k parent peak RSS, {name}", f"{r['peak']:.1f} MB", "<= 300 MB" if goal else "(info)",
                  PF[r["peak"] <= 300] if goal else ""),
                 (f"100k run dirs after {run_for:.0f} s, {name}", str(r["dirs"]), "(info)", "")]
    for key, values in status.items():
        goal = "--json" not in key  # reading is the target; writing 10^5 records as JSON is extra
        rows.append((f"status 10^5 runs, {key}", f"{med(values):.3f} s", "< 1 s" if goal else "(info)",
                     PF[med(values) < 1] if goal else ""))
    for key, values in found.items():
        goal = "--json" not in key  # the table is the target; writing 10^5 records as JSON is extra
        rows.append((f"results 10^5 runs, {key}", f"{med(values):.3f} s", "<= 2 s" if goal else "(info)",
                     PF[med(values) <= 2] if goal else ""))
    rows += [(f"CPU used by other processes, section {i}", f"{c:.1f} s in {s:.0f} s", "(noise gauge)", "")
             for i, (c, s) in enumerate(noise, 1)]

    print("\nSUMMARY (medians; per-repetition values in parentheses)")
    rows.insert(0, ("measure", "value", "target / ratio", "result"))
    w = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print(" | ".join(c.ljust(x) for c, x in zip(row, w)).rstrip())
        if i == 0:
            print("-+-".join("-" * x for x in w))
    print(f"\n{sum(row[3] == 'PASS' for row in rows)} PASS, {sum(row[3] == 'FAIL' for row in rows)} FAIL")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Exception:  # a report: never fail the caller
        traceback.print_exc()
    sys.exit(0)
