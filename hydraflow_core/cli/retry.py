"""``hydraflow retry DIR``: run again only what did not complete, into the same numbers and directories.

- A sweep (the Hydra plugin's sweep directory): the app is started again as
  it was recorded, with ``HYDRAFLOW_REPLAY`` naming the runs to run
  (:mod:`.replay`); ``hydra.launcher.*`` overrides given to retry come last, so they win.
- A ``hydraflow run`` directory: every batch that did not complete runs again
  into its own sweep directory; a batch whose app used the hydraflow
  launcher (its sweep directory has a manifest) retries only its own
  unfinished runs.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from hydraflow_core import manifest
from hydraflow_core.manifest import replay
from hydraflow_core.manifest.claim import Claim
from hydraflow_core.errors import UsageError
from hydraflow_core.executors import stop_signals
from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.stop import Stopped
from hydraflow_core.cli.status import counts_line, unfinished
from hydraflow_core.jobs.batches import LOG_NAME

#: Exit code when a stop signal ended the retry (the child's own code otherwise).


def check_overrides(overrides: Sequence[str]) -> List[str]:
    """Only launcher settings may change on a retry: the runs' own overrides are recorded."""
    bad = [o for o in overrides if not o.lstrip("+").startswith(("hydra.launcher.", "hydra/launcher="))]
    if bad:
        raise UsageError(
            f"retry takes only launcher settings (hydra.launcher.KEY=VALUE or hydra/launcher=NAME), "
            f"not {' '.join(bad)}: the runs' own overrides are recorded in the manifest"
        )
    return list(overrides)


def _check_settings(state: manifest.SweepState, overrides: Sequence[str]) -> None:
    """A misspelt hydraflow launcher setting: did-you-mean, before the app starts again (a sweep whose
    recorded launcher is hydraflow's, and no other launcher named)."""
    from hydraflow_core.settings import unknown_overridden

    recorded = state.header.get("launcher") or {}
    if state.header.get("kind") != "sweep" or "backend" not in recorded:
        return
    if any(o.lstrip("+").startswith("hydra/launcher=") for o in overrides):
        return
    problems = unknown_overridden(overrides)
    if problems:
        raise UsageError("\n".join(f"hydra.launcher: {problem}" for problem in problems))


def plan_retry(directory: Path, failed_only: bool) -> Tuple[manifest.SweepState, List[manifest.RunRecord]]:
    from hydraflow_core.executors.slurm.folded import apply_slurm

    state = manifest.read(directory)
    if state.launcher_alive:
        last = state.attempts[-1]
        raise UsageError(
            f"{directory} is still running (pid {last.get('pid')} on {last.get('host')}); "
            "wait for it to end (hydraflow status --watch), or stop it first"
        )
    apply_slurm(state)
    active = [r for r in state.runs if r.state in manifest.ACTIVE]
    if active:
        raise UsageError(
            f"{directory} is still running on Slurm ({len(active)} runs pending or running, e.g. #{active[0].number} "
            + (f"in task {active[0].job_id}" if active[0].job_id else "in a wave still to submit")
            + "); wait for them (hydraflow status --watch), or cancel them first "
            f"(hydraflow cancel {directory})"
        )
    return state, unfinished(state, failed_only)


def _run_child(argv: List[str], cwd: str, env: Dict[str, str]) -> int:
    """Run ``argv`` in the foreground; a stop signal is passed on, and its exit code returned."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True)
    with stop_signals():
        try:
            return stops.wait_process(process)
        except Stopped as stop:
            stops.stop_child(process, stop.signum, grace=30)  # the app stops its own runs first
            return stop.exit_code


def retry_sweep(state: manifest.SweepState, todo: List[manifest.RunRecord], overrides: Sequence[str],
                quiet: bool = False) -> int:
    numbers = [r.number for r in todo]
    with Claim.held(state.sweep_dir) as claim:  # a second retry now is refused; the app shares this claim
        spec = replay.write_spec(state.sweep_dir, numbers)
        return _retry_sweep(state, numbers, spec, overrides, quiet, claim.environment())


def _retry_sweep(state: manifest.SweepState, numbers: List[int], spec, overrides: Sequence[str], quiet: bool,
                 env: Dict[str, str]) -> int:
    argv, cwd = replay.replay_command(state.header, overrides)
    if not quiet:
        shown = " ".join(f"#{n}" for n in numbers[:20]) + (" ..." if len(numbers) > 20 else "")
        print(f"hydraflow: retrying {len(numbers)} of {len(state.runs)} runs ({shown})", flush=True)
        print("+ " + " ".join(shlex.quote(a) for a in argv), flush=True)
    return _run_child(argv, cwd, {**os.environ, **replay.replay_env(state.header), replay.ENV: str(spec), **env})


def retry_job(state: manifest.SweepState, todo: List[manifest.RunRecord], overrides: Sequence[str],
              console, local: bool = False) -> int:
    """The batches of a ``hydraflow run`` directory that did not complete, run again (on Slurm if they were)."""
    from hydraflow_core.cli.call import CallFunction, load_function
    from hydraflow_core.cli.run import batch_command
    from hydraflow_core.executors import Command, CommandWork, FunctionWork
    from hydraflow_core.jobs.batches import Batch

    header = state.header
    if header.get("job_kind") not in ("run", "call"):
        raise UsageError(f"{state.sweep_dir}: retry runs again the batches of a 'run:' or 'call:' job; "
                         f"this one is a '{header.get('job_kind')}:' job")
    directory = Path(header["directory"])
    command = list(header["command"])
    batches = {r.number: Batch(r.number, r.group, str(r.extra.get("name", r.number)), tuple(r.overrides),
                               str(r.extra.get("sweep_dir")), tuple((r.extra.get("slurm") or {}).items()))
               for r in todo}
    on_slurm = bool(header.get("slurm")) and not local
    parallel = header.get("max_parallel")  # None: 1 here, on Slurm the site's limit
    if header.get("job_kind") == "call":  # in this process, in the job file's directory, as `hydraflow run` does
        target = str(header["target"])
        work: Any = FunctionWork(CallFunction(load_function(target, directory), target, directory, batches,
                                              header.get("lead", ())))
        parallel, on_slurm = 1, False
    else:
        plain = batch_command(command, directory, batches)

        def of(task) -> Command:
            batch = batches[task.runs[0].number]
            sweep_dir = directory / batch.sweep_dir
            if _fully_planned(sweep_dir):  # its app used hydraflow and recorded every run: retry those
                argv = (sys.executable, "-m", "hydraflow_core.cli", "retry", str(sweep_dir), "--quiet", *overrides)
                return Command(argv, str(directory), str(sweep_dir / LOG_NAME))
            base = plain.command(task)
            return Command((*base.argv, *overrides), base.cwd, base.log)

        work = plain if on_slurm else CommandWork(of)  # on Slurm each batch runs again whole, as submitted
    return _retry_batches(state, work, batches, directory, parallel, on_slurm, console)


def _fully_planned(sweep_dir: Path) -> bool:
    """True when the sweep at ``sweep_dir`` has a manifest whose plan holds every run of the sweep
    (a batch stopped before its app planned its runs is run again whole)."""
    if not manifest.has_manifest(sweep_dir):
        return False
    try:
        state = manifest.read(sweep_dir)
    except UsageError:
        return False
    total = state.header.get("runs")
    return bool(state.runs) and (not isinstance(total, int) or len(state.runs) >= total)


def _retry_batches(state, work, batches, directory: Path, parallel: int, on_slurm: bool, console) -> int:
    from hydraflow_core.cli.display import ProgressDisplay
    from hydraflow_core.cli.run import execute
    from hydraflow_core.session import Session

    header = state.header
    session = Session(state.sweep_dir, replay=False)  # its manifest joined, in a new attempt
    session.open({"kind": "retry", "argv": sys.argv, "runs": sorted(batches), "numbers": sorted(batches)})
    title = f"{header.get('job')}: retrying {len(batches)} of {len(state.runs)} batches" + (" on Slurm" if on_slurm
                                                                                           else "")
    console.print(f"{title} -> {state.sweep_dir}", highlight=False)
    per_task = 1
    if on_slurm:  # fitted to the user's limits as `hydraflow run` fits them
        from hydraflow_core.cli.run import fit_to_site

        per_task, parallel, notes = fit_to_site(list(batches.values()), parallel)
        for note in notes:
            console.print(note, highlight=False)
    interrupted = None
    previous = os.getcwd()
    os.chdir(directory)
    with ProgressDisplay(console, len(batches), title) as display:
        try:
            results = execute(session, work, list(batches.values()), directory, parallel, on_slurm, display,
                              str(header.get("job")), header.get("timeout_min"), per_task)
        except Stopped as stop:
            results, interrupted = stop.results, stop.exit_code
        finally:
            os.chdir(previous)
            session.close()
    return _summary(console, state, results, directory, interrupted)


def _summary(console, state: manifest.SweepState, results, directory: Path, interrupted) -> int:
    """The retried batches' summary, then the run directory's counts; the exit code."""
    from hydraflow_core.cli.display import print_summary

    print_summary(console, results, directory, state.header.get("run_dir", ""), str(state.sweep_dir))
    if interrupted:
        return interrupted
    after = manifest.read(state.sweep_dir)
    console.print(f"now: {counts_line(after)}", highlight=False)
    return 0 if after.complete else 1


def retry(directory: Path, overrides: Sequence[str], *, failed_only: bool = False, quiet: bool = False,
          console=None, local: bool = False, wait: "bool | None" = None) -> int:
    overrides = check_overrides(overrides)
    launcher_overrides = list(overrides)
    if local:  # a Slurm sweep's unfinished runs, on this machine
        launcher_overrides.append("hydra.launcher.backend=local")
    if wait is not None:
        launcher_overrides.append(f"hydra.launcher.wait={'true' if wait else 'false'}")
    state, todo = plan_retry(directory, failed_only)
    _check_settings(state, overrides)
    if not todo:
        if not quiet:
            print(f"hydraflow: nothing to retry in {directory}: {counts_line(state)}")
        return 0 if state.complete or failed_only else 1
    if state.header.get("kind") == "job":
        return retry_job(state, todo, overrides, console, local)
    return retry_sweep(state, todo, launcher_overrides, quiet)
