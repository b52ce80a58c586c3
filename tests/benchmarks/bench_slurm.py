"""Benchmark: the slurm backend against hydra-submitit-launcher, on the local Slurm cluster.

Run from the repository root, with the cluster up (``bash .ci/slurm/start-cluster.sh``, as root).
A report, not a pytest test; always exits 0::

    python tests/benchmarks/bench_slurm.py          # ~4 min
    python tests/benchmarks/bench_slurm.py --quick  # 100 runs instead of 200

It reuses ``tests/benchmarks/.venv`` (made by bench_launcher.py: the project,
hydra-submitit-launcher, hydra-joblib-launcher) and counts ``sbatch`` calls
with a shim first on PATH.

1. 200 trivial runs (``-m '+x=range(0,200)'``): hydra-submitit-launcher
   (``submitit_slurm``) vs hydraflow (``hydraflow_slurm``, runs_per_task 1 and
   20), one after the other: time to submit (until the first array is
   queued), time until all finished, sbatch calls, array tasks.
2. 10k runs, runs_per_task=1, arrays of at most 1001 tasks, wait=false: sbatch
   calls (want 10) and the time to the shell prompt; then scancel.

Target: hydraflow with packing at most 0.3x the submitit launcher's time.
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
    """Re-exec this script inside bench_launcher's venv (it has hydra-submitit-launcher)."""
    venv = bench_launcher.VENV
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not (venv / ".bench-installed").exists():
        print("run tests/benchmarks/bench_launcher.py once first: it makes tests/benchmarks/.venv")
        sys.exit(0)
    os.execv(str(bench_launcher.VPY), [str(bench_launcher.VPY), str(Path(__file__).resolve()), *sys.argv[1:]])


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


def run(overrides: list, n: int, folder: Path, name: str) -> dict:
    sweep = WORK / f"sweep-{name}-{time.time_ns()}"
    (folder / "calls").unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
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
            "done": done, "rc": process.returncode, "err": err[-600:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    n = 100 if ap.parse_args().quick else 200
    ensure_venv()
    if shutil.which("sbatch") is None:
        print("no Slurm cluster (sbatch not on PATH): start one with `bash .ci/slurm/start-cluster.sh`")
        return
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / "app.py").write_text(APP)
    folder = shim()
    print(f"1. {n} trivial runs")
    variants = {
        "submitit_slurm": ["hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=10"],
        "hydraflow runs_per_task=1": ["hydra/launcher=hydraflow_slurm"],
        "hydraflow runs_per_task=20": ["hydra/launcher=hydraflow_slurm", "hydra.launcher.runs_per_task=20"],
    }
    measured = {}
    only_big = os.environ.get("BENCH_SLURM_ONLY_BIG") == "1"  # part 2 alone
    for name, overrides in ({} if only_big else variants).items():
        measured[name] = r = run(overrides, n, folder, name.split()[0])
        tasks = n if "20" not in name else -(-n // 20)
        print(f"  {name:28s} submit {r['submitted']:6.2f} s  all finished {r['wall']:7.2f} s  sbatch calls "
              f"{r['sbatch']}  array tasks {tasks}  run dirs {r['done']}  rc {r['rc']}", flush=True)
        if r["rc"] != 0:
            print("    " + r["err"].replace("\n", "\n    "))
    base = measured["submitit_slurm"]["wall"] if measured else float("nan")
    print("\n2. 10k runs, runs_per_task=1, arrays of at most 1001, wait=false")
    status_times, sacct_calls = [], 0
    big = run(["hydra/launcher=hydraflow_slurm", "hydra.launcher.wait=false",
               "hydra.launcher.slurm.max_array_size=1001"], 10_000, folder, "big")
    print(f"  back at the prompt after {big['wall']:.2f} s; sbatch calls {big['sbatch']} (want 10); rc {big['rc']}")
    sweep = max(WORK.glob("sweep-big-*"))
    (folder / "sacct").write_text(f'#!/bin/sh\necho x >> "{folder}/sacct-calls"\nexec {shutil.which("sacct")} "$@"\n')
    (folder / "sacct").chmod(0o755)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
    hydraflow = str(Path(sys.executable).with_name("hydraflow"))
    status_times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([hydraflow, "status", str(sweep)], env=env, capture_output=True)
        status_times.append(time.perf_counter() - t)
    sacct_calls = len((folder / "sacct-calls").read_text().splitlines())
    print(f"  hydraflow status of those 10k runs: {' / '.join(f'{t:.2f} s' for t in status_times)}; "
          f"sacct calls per status: {sacct_calls / 3:.0f}")
    subprocess.run(["scancel", "--name", "app"], capture_output=True)
    print("\nSUMMARY")
    for name, r in measured.items():
        print(f"  {name:28s} {r['wall']:7.2f} s  ({r['wall'] / base:.2f}x submitit_slurm)  sbatch calls {r['sbatch']}")
    if measured:
        packed = measured["hydraflow runs_per_task=20"]["wall"] / base
        print(f"  packing target <= 0.3x: {'PASS' if packed <= 0.3 else 'FAIL'} ({packed:.2f}x)")
    print(f"  10k runs submitted: {big['wall']:.2f} s to the prompt, {big['sbatch']} sbatch calls; status "
          f"{statistics.median(status_times):.2f} s with {sacct_calls / 3:.0f} sacct call(s)")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
