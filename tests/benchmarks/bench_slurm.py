"""Benchmark: the slurm backend against hydra-submitit-launcher, on the local Slurm cluster.

Run from the repository root, with the cluster up (``bash .ci/slurm/start-cluster.sh``, as root).
A report, not a pytest test; always exits 0::

    python tests/benchmarks/bench_slurm.py          # ~8 min
    python tests/benchmarks/bench_slurm.py --quick  # 100 runs instead of 200, no 10k part

It runs in ``tests/benchmarks/.venv`` (the project, hydra-core 1.3.8,
hydra-submitit-launcher, hydra-joblib-launcher; made here or by
bench_launcher.py) and counts ``sbatch`` calls with a shim first on PATH.

1. 200 trivial runs (``-m '+x=range(0,200)'``), side by side, one after the
   other: hydra-submitit-launcher (``submitit_slurm``), hydraflow with one
   run per task (the node path: each task imports the task function and runs
   its saved config), the same through the replay path
   (``HYDRAFLOW_SLURM_START=replay``: each task starts the app again, as
   before the node path), and packed (``runs_per_task=20``): time to submit
   (until the first array is queued), time until all finished, sbatch calls,
   array tasks, and each one's time as a multiple of submitit's. The load
   average is printed before and after each.
2. 10k runs, runs_per_task=1, arrays of at most 1001 tasks, wait=false,
   through the node path and the replay path: sbatch calls (want 10) and the
   time to the shell prompt; then scancel; ``hydraflow status`` of them.
3. The dry run of a 10k-run sweep whose ``slurm.cpus_per_task`` interpolates
   each run's config: time and peak memory (nothing submitted).
4. A site's limits (as root: the cluster is started again with
   ``LOCAL_SLURM_SITE_LIMITS="MaxSubmitJobs=50 MaxJobs=4"``, cleared after):
   2,000 runs (500 with --quick), default settings, under the limits beside
   the same with none: time to finish, array tasks, runs completed.

Targets: one run per task at most 1.0x the submitit launcher's time; packed at most 0.3x.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_launcher  # noqa: E402  (its venv and app)

WORK = HERE / "work-slurm"
APP = '''import hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    return cfg.get("x")

if __name__ == "__main__":
    main()
'''


def ensure_venv() -> None:
    """Re-exec this script inside bench_launcher's venv (it has hydra-submitit-launcher), made if missing."""
    venv, python = bench_launcher.VENV, bench_launcher.VPY
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    marker = venv / ".bench-installed"
    if not marker.exists():
        print(f"creating {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *bench_launcher.PACKAGES], check=True)
        marker.write_text("ok\n")
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def shim() -> Path:
    """A directory whose ``sbatch`` counts its calls, then runs the real one."""
    real = shutil.which("sbatch")
    folder = WORK / "shim"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sbatch").write_text(f'#!/bin/sh\necho x >> "{folder}/calls"\nexec {real} "$@"\n')
    (folder / "sbatch").chmod(0o755)
    return folder


def calls(folder: Path) -> int:
    path = folder / "calls"
    return len(path.read_text().splitlines()) if path.exists() else 0


def run(overrides: list, n: int, folder: Path, name: str, env: dict = None) -> dict:
    sweep = WORK / f"sweep-{name}-{time.time_ns()}"
    (folder / "calls").unlink(missing_ok=True)
    env = {**os.environ, **(env or {}), "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    log = open(WORK / f"{name}.log", "w+")  # a file, not a pipe: 10k log lines would fill a pipe
    process = subprocess.Popen([sys.executable, "app.py", "-m", f"+x=range(0,{n})", f"hydra.sweep.dir={sweep}",
                                *overrides], cwd=WORK, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    submitted = None
    while process.poll() is None:
        if submitted is None and calls(folder):
            submitted = time.perf_counter() - start
        time.sleep(0.05)
    wall = time.perf_counter() - start
    log.seek(0)
    err = log.read()
    log.close()
    done = sum(1 for _ in sweep.glob("*/.hydra"))
    return {"wall": wall, "submitted": submitted if submitted is not None else wall, "sbatch": calls(folder),
            "done": done, "rc": process.returncode, "err": err[-600:], "sweep": sweep}


def dry_run(n: int) -> dict:
    """``hydra.launcher.dry_run=true`` of n runs whose cpus_per_task comes from each run's config: wall time and
    the process's own peak RSS (wait4), nothing submitted."""
    folder = shim()
    (folder / "calls").unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    with open(WORK / "dry.log", "w") as out:
        process = subprocess.Popen([sys.executable, "app.py", "-m", "hydra/launcher=hydraflow_slurm", "+cpus=1,2",
                                    f"+x=range(0,{n // 2})", "hydra.launcher.slurm.cpus_per_task=${cpus}",
                                    "hydra.launcher.dry_run=true", f"hydra.sweep.dir={WORK / 'dry'}"],
                                   cwd=WORK, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    text = (WORK / "dry.log").read_text()
    return {"runs": n, "wall": wall, "rss_mb": usage.ru_maxrss / 1024, "rc": os.waitstatus_to_exitcode(status),
            "arrays": sum(line.startswith("array ") for line in text.splitlines()), "sbatch": calls(folder)}


def site_limits(n: int, folder: Path) -> dict:
    """n runs with default settings under MaxSubmitJobs=50 MaxJobs=4, beside the same with no limits."""
    if os.geteuid() != 0:
        print("\n4. site limits: skipped (setting them needs root)")
        return {}
    script = HERE.parents[1] / ".ci" / "slurm" / "start-cluster.sh"
    out = {}
    print(f"\n4. {n} runs, default settings, under a site's limits beside none")
    for name, limits in (("no limits", ""), ("MaxSubmitJobs=50 MaxJobs=4", "MaxSubmitJobs=50 MaxJobs=4")):
        subprocess.run(["bash", str(script)], env={**os.environ, "LOCAL_SLURM_SITE_LIMITS": limits},
                       capture_output=True, check=True)
        try:
            out[name] = r = run(["hydra/launcher=hydraflow_slurm"], n, folder, "limits")
        finally:
            subprocess.run(["bash", str(script)], env={**os.environ, "LOCAL_SLURM_SITE_LIMITS": ""},
                           capture_output=True)
        print(f"  {name:28s} all finished {r['wall']:7.2f} s  sbatch calls {r['sbatch']}  run dirs {r['done']}  "
              f"rc {r['rc']}", flush=True)
    return out


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


REPLAY = {"HYDRAFLOW_SLURM_START": "replay"}
#: The job name of part 2's arrays (cancelled by name afterwards).
BIG = f"hfbench-{os.getpid()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    quick = ap.parse_args().quick
    n = 100 if quick else 200
    ensure_venv()
    if shutil.which("sbatch") is None:
        print("no Slurm cluster (sbatch not on PATH): start one with `bash .ci/slurm/start-cluster.sh`")
        return
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / "app.py").write_text(APP)
    folder = shim()
    print(f"1. {n} trivial runs, one after the other (load average 1/5/15 min before -> after)")
    variants = {  # name: (overrides, environment, array tasks)
        "submitit_slurm": (["hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=10"], {}, n),
        "hydraflow runs_per_task=1": (["hydra/launcher=hydraflow_slurm"], {}, n),
        "hydraflow runs_per_task=1, replay": (["hydra/launcher=hydraflow_slurm"], REPLAY, n),
        "hydraflow runs_per_task=20": (["hydra/launcher=hydraflow_slurm", "hydra.launcher.runs_per_task=20"], {},
                                       -(-n // 20)),
    }
    measured = {}
    only_big = os.environ.get("BENCH_SLURM_ONLY_BIG") == "1"  # part 2 alone
    for name, (overrides, env, tasks) in ({} if only_big else variants).items():
        before = load()
        measured[name] = r = run(overrides, n, folder, name.split()[0], env)
        r["tasks"] = tasks
        print(f"  {name:34s} submit {r['submitted']:6.2f} s  all finished {r['wall']:7.2f} s  sbatch calls "
              f"{r['sbatch']}  array tasks {tasks}  run dirs {r['done']}  rc {r['rc']}  load {before} -> {load()}",
              flush=True)
        if r["rc"] != 0:
            print("    " + r["err"].replace("\n", "\n    "))
    base = measured["submitit_slurm"]["wall"] if measured else float("nan")
    big = {}
    status_times, sacct_calls = [], 0
    if not quick:
        print("\n2. 10k runs, runs_per_task=1, arrays of at most 1001, wait=false")
        for name, env in (("node path", {}), ("replay", REPLAY)):
            big[name] = r = run(["hydra/launcher=hydraflow_slurm", "hydra.launcher.wait=false",
                                 f"hydra.launcher.slurm.job_name={BIG}",
                                 "hydra.launcher.slurm.max_array_size=1001"], 10_000, folder, "big", env)
            print(f"  {name:10s} back at the prompt after {r['wall']:.2f} s; sbatch calls {r['sbatch']} (want 10); "
                  f"rc {r['rc']}", flush=True)
            subprocess.run(["scancel", "--name", BIG], capture_output=True)  # its own jobs only, not a test's
        sweep = big["replay"]["sweep"]
        (folder / "sacct").write_text(f'#!/bin/sh\necho x >> "{folder}/sacct-calls"\n'
                                      f'exec {shutil.which("sacct")} "$@"\n')
        (folder / "sacct").chmod(0o755)
        env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
        hydraflow = str(Path(sys.executable).with_name("hydraflow"))
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([hydraflow, "status", str(sweep)], env=env, capture_output=True)
            status_times.append(time.perf_counter() - t)
        sacct_calls = len((folder / "sacct-calls").read_text().splitlines())
        print(f"  hydraflow status of those 10k runs: {' / '.join(f'{t:.2f} s' for t in status_times)}; "
              f"sacct calls per status: {sacct_calls / 3:.0f}")
    dry = dry_run(10_000 if not quick else 2_000)
    limited = site_limits(500 if quick else 2_000, folder)
    print(f"\n3. dry run of {dry['runs']} runs with per-run resources (slurm.cpus_per_task=${{cpus}}, +cpus=1,2): "
          f"{dry['wall']:.2f} s, peak RSS {dry['rss_mb']:.0f} MB, {dry['arrays']} arrays listed, rc {dry['rc']}, "
          f"sbatch calls {dry['sbatch']}", flush=True)
    print(f"\nSUMMARY ({os.cpu_count()} CPUs here; load average now {load()})")
    for name, r in measured.items():
        print(f"  {name:34s} {r['wall']:7.2f} s  ({r['wall'] / base:.2f}x submitit_slurm)  submit {r['submitted']:.2f} s"
              f"  sbatch calls {r['sbatch']}  array tasks {r['tasks']}")
    if measured:
        one = measured["hydraflow runs_per_task=1"]["wall"] / base
        packed = measured["hydraflow runs_per_task=20"]["wall"] / base
        print(f"  one run per task target <= 1.0x: {'PASS' if one <= 1.0 else 'FAIL'} ({one:.2f}x)")
        print(f"  packing target <= 0.3x: {'PASS' if packed <= 0.3 else 'FAIL'} ({packed:.2f}x)")
    for name, r in big.items():
        print(f"  10k runs submitted ({name}): {r['wall']:.2f} s to the prompt, {r['sbatch']} sbatch calls")
    print(f"  dry run of {dry['runs']} runs with per-run resources: {dry['wall']:.2f} s "
          f"({1000 * dry['wall'] / dry['runs']:.1f} ms/run), peak RSS {dry['rss_mb']:.0f} MB")
    if status_times:
        print(f"  status of 10k runs: {statistics.median(status_times):.2f} s with {sacct_calls / 3:.0f} sacct call(s)")
    for name, r in limited.items():
        print(f"  {name}: {r['wall']:.2f} s, {r['done']} runs done, rc {r['rc']}")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
