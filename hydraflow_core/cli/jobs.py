"""The job verbs: ``hydraflow run`` (and its list of jobs) and ``hydraflow show``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

import yaml

from hydraflow_core import default_launcher
from hydraflow_core.cli import run as dispatch
from hydraflow_core.cli.call import load_function
from hydraflow_core.cli.console import make_console
from hydraflow_core.cli.display import print_summary, ProgressDisplay
from hydraflow_core.errors import UsageError
from hydraflow_core.executors import COMPLETED, Stopped
from hydraflow_core.jobs import load as jobfile
from hydraflow_core.jobs.shell import join as shell_join, quote as shell_quote
from hydraflow_core.earlier import settled
from hydraflow_core.jobs.batches import OUTPUT_ROOT, Batch, Plan, count_batches, plan_job
from hydraflow_core.jobs.resume import last_run, resume, said as resumed_said
from hydraflow_core.jobs.submit import batches_file_text, submit_command

EXIT_FAILED = 1


def _load_job(args: argparse.Namespace):
    """The job file, checked in depth only for ``args.job`` when one is named."""
    path = jobfile.find(args.file, Path.cwd())
    shown = args.file or jobfile.FILE_NAME
    return jobfile.load(path, shown, only=args.job), shown


def run_verb(args: argparse.Namespace) -> int:
    if args.job is None:
        if args.args or args.dry_run:
            raise UsageError("name a job: hydraflow run JOB [ARGS...] (hydraflow run alone lists them)")
        return _list_jobs(args)
    job_file, shown = _load_job(args)
    job = jobfile.get_job(job_file, args.job, shown)
    directory = job_file.directory
    # Bad ARGS and too many batches fail here, before anything is created.
    preview = plan_job(job, args.args, max_batches=args.max_batches)
    on_slurm = bool(job.slurm or any(step.slurm for step in job.steps))
    earlier = _earlier_run(job, directory) if args.resume else None
    resumed = None
    if earlier is not None:
        resumed = resume(plan_job(job, args.args, earlier.name, max_batches=args.max_batches), settled(earlier),
                         directory)
        sys.stderr.write(resumed_said(job.name, _shown_path(earlier), resumed) + "\n")
        preview = resumed.plan
    if args.dry_run:
        if on_slurm:
            per_task, parallel, notes = dispatch.fit_to_site(preview.batches, args.max_parallel or job.max_parallel)
            sys.stderr.write("".join(note + "\n" for note in notes))
            sys.stdout.write(slurm_dry_run_text(preview.batches, shlex.split(job.target), parallel, job.name,
                                                preview.run_dir, per_task))
            return 0
        sys.stdout.write(dry_run_text(preview))
        return 0
    if on_slurm and shutil.which("sbatch") is None:
        raise UsageError(f"{job.where}: jobs.{job.name}.slurm: sbatch not found: this machine is not a Slurm "
                         "login node (--dry-run shows what would be submitted)")
    if job.kind == "call":
        try:
            load_function(job.target, directory)
        except UsageError as error:
            raise UsageError(f"{job.where}: jobs.{job.name}.{error}") from None
    else:
        command = submit_command(preview) if job.kind == "submit" else shlex.split(job.target)
        _check_command(command[0], directory, f"{job.where}: jobs.{job.name}.{job.kind}")
    if resumed is not None:
        plan = resumed.plan
        if not plan.batches:
            return 0
    else:
        plan = plan_job(job, args.args, dispatch.new_run_id(directory, job.name), max_batches=args.max_batches)
    console = make_console()
    if job.kind == "submit":
        console.print(f"submitting {len(plan.batches)} batches: {plan.run_dir}/batches.txt")
        try:
            code = dispatch.submit(plan, directory)
        except Stopped as stop:
            return stop.exit_code
        return 0 if code == 0 else EXIT_FAILED
    parallel = args.max_parallel or job.max_parallel
    per_task = 1
    if on_slurm:
        per_task, parallel, notes = dispatch.fit_to_site(plan.batches, parallel)
        for note in notes:
            console.print(note, highlight=False)
    count = len(plan.batches)
    title = f"{job.name}: {count} batch{'es' if count != 1 else ''}"
    console.print(f"{title} -> {_shown_path(directory / plan.run_dir)}")
    interrupted = 0
    with ProgressDisplay(console, len(plan.batches), title) as display:
        try:
            if job.kind == "call":
                function = load_function(job.target, directory)
                results = dispatch.run_job(plan, [job.target], directory, 1, display, function=function,
                                           resume=resumed is not None)
            else:
                results = dispatch.run_job(plan, command, directory, parallel, display, on_slurm=on_slurm,
                                           per_task=per_task, resume=resumed is not None)
        except Stopped as stop:
            results, interrupted = stop.results, stop.exit_code
            if stop.left_running:
                shown = _shown_path(directory / plan.run_dir)
                console.print(f"stopped waiting; the batches go on on Slurm.\nevery batch's state: hydraflow status "
                              f"{shown}\nrun again what did not complete: hydraflow retry {shown}\n"
                              f"cancel what has not ended: hydraflow cancel {shown}", highlight=False)
                return interrupted
    print_summary(console, results, directory, plan.run_dir, _shown_path(directory / plan.run_dir))
    if interrupted:
        return interrupted
    return EXIT_FAILED if any(r.state != COMPLETED for r in results) else 0


def _earlier_run(job, directory: Path) -> Optional[Path]:
    """``--resume``: the job's last run directory (None: there is none, this is a new run)."""
    if job.kind == "submit":
        raise UsageError(f"{job.where}: jobs.{job.name}: --resume: a submit job's batches run where the submit "
                         "command sends them, and hydraflow records none of them: run the job again, or give its "
                         "batches' sweeps hydra.launcher.resume=true")
    earlier = last_run(directory, job.name)
    if earlier is None:
        sys.stderr.write(f"{job.name}: --resume: no earlier run under {OUTPUT_ROOT}/{job.name}/: a new run\n")
    return earlier


def _list_jobs(args: argparse.Namespace) -> int:
    """``hydraflow run`` alone: every job with its kind, batch count and command."""
    job_file, shown = _load_job(args)
    rows = []
    for job in job_file.jobs.values():
        count = count_batches(job)
        rows.append((job.name, job.kind, f"{count} batch{'es' if count != 1 else ''}", _as_written(job)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print(f"jobs in {shown}:")
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    print("run one with: hydraflow run JOB [ARGS...] (--dry-run shows its commands)")
    return 0


def _check_command(program: str, directory: Path, where: str) -> None:
    found = shutil.which(program) if os.sep not in program else (
        str(directory / program) if os.access(directory / program, os.X_OK) else None)
    if found is None:
        raise UsageError(f"{where}: command '{program}' not found")


def _shown_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def show_verb(args: argparse.Namespace) -> int:
    job_file, shown = _load_job(args)
    names = [args.job] if args.job else list(job_file.jobs)
    jobs = {name: _job_as_dict(jobfile.get_job(job_file, name, shown)) for name in names}
    sys.stdout.write(yaml.safe_dump({"jobs": jobs}, sort_keys=False, width=100))
    return 0


def _job_as_dict(job) -> dict:
    """The job as read, in its own schema: a HydraFlow 0.23 job keeps its sets of each / all / add."""
    sets = job.schema == "sets"
    out = {job.kind: _as_written(job)}
    if job.with_:
        out["add" if sets else "with"] = _words(job.with_)
    if job.max_parallel is not None:
        out["max_parallel"] = job.max_parallel
    if job.timeout_min is not None:
        out["timeout_min"] = job.timeout_min
    steps = []
    for step in job.steps:
        fields = ({"each": step.batch, "all": step.args, "add": step.with_} if sets else
                  {"batch": step.batch, "zip": step.zip, "args": step.args, "with": step.with_})
        steps.append({k: _words(v) for k, v in fields.items() if v})
    if any(steps):
        out["sets" if sets else "steps"] = steps
    return out


def _as_written(job) -> str:
    """The job's run, call or submit value: a 0.23 call's own words are its lead, less the --multirun after them."""
    return " ".join([job.target, *job.lead[:-1]]) if job.schema == "sets" and job.kind == "call" else job.target


def _words(words) -> str:
    """Words joined so that hydraflow.yaml reads them back the same (quoted only where needed).

    The loader splits with ``shlex``, which knows no ``$'...'``: a word with a
    newline gets plain single quotes (YAML keeps the newline).
    """
    return " ".join(w if shlex.split(w) == [w] else shlex.quote(w) if "\n" in w or "\t" in w
                    else shell_quote(w) for w in words)


def dry_run_text(plan: Plan) -> str:
    """Exactly what ``hydraflow run`` would execute, one line per command, after a line saying the launcher."""
    job = plan.job
    said = default_launcher.said([b.arguments for b in plan.batches], submit=job.kind == "submit") + "\n"
    if job.kind == "run":
        command = shlex.split(job.target)
        return said + "".join(shell_join([*command, "-m", *b.arguments]) + "\n" for b in plan.batches)
    if job.kind == "call":
        return said + "".join(f"{job.target}({[*job.lead, *b.arguments]!r})\n" for b in plan.batches)
    path = f"{plan.run_dir}/batches.txt"
    return said + shell_join(submit_command(plan)) + "\n" + f"# {path}:\n" + batches_file_text(plan)


def slurm_dry_run_text(batches: Sequence[Batch], command: Sequence[str], max_parallel: Optional[int],
                       job_name: str, run_dir: str = "<run dir>", per_task: int = 1) -> str:
    """The Slurm settings of each array, its sbatch script, and the batch commands it runs."""
    from hydraflow_core.executors.slurm.arrays import group_by_settings, sbatch_preview

    by_index = {b.index: b for b in batches}
    out = [default_launcher.said([b.arguments for b in batches])]
    for number, (settings, tasks) in enumerate(group_by_settings(dispatch.batch_tasks(batches, per_task), {},
                                                                               max_parallel)):
        out.append(f"# slurm array {number}: {len(tasks)} task(s), settings {json.dumps(settings, sort_keys=True)}")
        script = sbatch_preview(settings, job_name, len(tasks), run_dir)
        if script:
            out.append("# sbatch script:")
            out.extend(f"#   {line}" for line in script.splitlines() if line.strip())
        for i, task in enumerate(tasks):
            out.extend(f"# task {i}: " + shell_join([*command, "-m", *by_index[run.number].arguments])
                       for run in task.runs)
    return "\n".join(out) + "\n"
