"""The ``hydraflow`` command (SPEC 4).

Bad input of any kind prints one message on stderr and exits with code 2;
no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import List, Optional

import yaml
from rich.console import Console

from hydraflow_core import __version__
from hydraflow_core.cli import run as dispatch
from hydraflow_core.jobs import load as jobfile
from hydraflow_core.cli.display import ProgressDisplay, print_summary
from hydraflow_core.errors import HydraflowError, UsageError
from hydraflow_core.plan.batches import MAX_BATCHES, count_batches, dry_run_text, plan_job, submit_command
from hydraflow_core.jobs.shell import join as shell_join
from hydraflow_core.jobs.shell import quote as shell_quote
from hydraflow_core.syntax import MAX_VALUES, parse_sweep

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hydraflow",
        description="Extended sweeps, job definitions and dispatch for Hydra multiruns.",
    )
    parser.add_argument("--version", action="version", version=f"hydraflow {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    expand = commands.add_parser(
        "expand",
        help="print the runs a sweep expression gives, one per line",
        description="Print the runs of a sweep, one per line (overrides separated by spaces, "
        "shell-quoted where needed), in the order Hydra would run them.",
    )
    expand.add_argument("overrides", nargs="+", metavar="OVERRIDE", help="e.g. 'lr=1m:5m' model=a,b")
    expand.add_argument("--count", action="store_true", help="print only the number of runs")
    expand.add_argument(
        "--max-values", type=int, default=MAX_VALUES, metavar="N",
        help=f"most values one override may give (default {MAX_VALUES})",
    )
    expand.set_defaults(handler=_expand)

    run = commands.add_parser(
        "run",
        usage="hydraflow run [-h] [--dry-run] [--file PATH] [--max-parallel N] [--max-batches N] "
        "[JOB [ARGS ...]]",
        help="run a job definition of hydraflow.yaml",
        description="Expand a job definition into batches and run each as a Hydra multirun "
        "(run:), a function call (call:), or hand them all to one command (submit:). "
        "Without JOB, list the jobs of the file.",
    )
    run.add_argument("job", nargs="?", metavar="JOB",
                     help="a job name under 'jobs:' in hydraflow.yaml (none: list them)")
    # ARGS (overrides appended to every batch) are the words argparse does not know; see main().
    run.set_defaults(args=[])
    run.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    run.add_argument("--file", metavar="PATH", help="the job file (default: ./hydraflow.yaml)")
    run.add_argument(
        "--max-parallel", type=_positive_int, metavar="N",
        help="batches run at once (default: the job's max_parallel, else 1)",
    )
    run.add_argument(
        "--max-batches", type=_positive_int, default=MAX_BATCHES, metavar="N",
        help=f"most batches a job may have (default {MAX_BATCHES}); counted before any is built",
    )
    run.set_defaults(handler=_run)

    status = commands.add_parser(
        "status", help="the state of every run of a sweep (or batch of a hydraflow run)",
        description="Read the manifest of a sweep directory (a multirun that used the hydraflow launcher or "
        "sweeper) or of a `hydraflow run` directory, and show each run's state. Exit code 0 only when "
        "every run completed.",
    )
    status.add_argument("directory", metavar="DIR", help="a sweep directory or a hydraflow run directory")
    status.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    status.add_argument("--watch", action="store_true", help="refresh until no run is pending or running")
    status.set_defaults(handler=_status)

    retry = commands.add_parser(
        "retry", usage="hydraflow retry [-h] [--failed] DIR [hydra.launcher.KEY=VALUE ...]",
        help="run again only the runs that did not complete, into the same numbers and directories",
        description="Run again every run of DIR that did not complete (or, with --failed, the failed "
        "and lost ones), with the recorded overrides and launcher settings; hydra.launcher.* overrides "
        "given here win. Completed runs are never run again.",
    )
    retry.add_argument("directory", metavar="DIR", help="a sweep directory or a hydraflow run directory")
    retry.add_argument("--failed", action="store_true", help="only the failed and lost runs")
    retry.add_argument("--local", action="store_true", help="a Slurm sweep's runs on this machine instead")
    waiting = retry.add_mutually_exclusive_group()
    waiting.add_argument("--wait", dest="wait", action="store_true", default=None,
                         help="Slurm: wait for the runs to end (the recorded setting otherwise)")
    waiting.add_argument("--no-wait", dest="wait", action="store_false", help="Slurm: return once submitted")
    retry.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    retry.set_defaults(handler=_retry, args=[])

    cancel = commands.add_parser(
        "cancel", help="cancel a sweep's unfinished runs (its Slurm arrays, or its local launcher)",
        description="Cancel what of DIR has not ended: one scancel per Slurm array with unfinished tasks, or "
        "a stop (SIGTERM) to the sweep's local launcher. The manifest records it; retry runs them again later.",
    )
    cancel.add_argument("directory", metavar="DIR", help="a sweep directory or a hydraflow run directory")
    cancel.set_defaults(handler=_cancel)

    show = commands.add_parser("show", help="print job definitions as YAML")
    show.add_argument("job", nargs="?", metavar="JOB", help="only this job")
    show.add_argument("--file", metavar="PATH", help="the job file (default: ./hydraflow.yaml)")
    show.set_defaults(handler=_show)
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions:  # argparse keeps them here
        if command in getattr(action, "choices", {}):
            return action.choices[command]
    return parser  # pragma: no cover


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got '{text}'")
    return int(text)


def _sweep_directory(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise UsageError(f"{text}: no such directory (give a sweep directory or a hydraflow run directory)")
    return path.absolute()


def _status(args: argparse.Namespace) -> int:
    from hydraflow_core.cli.status import status

    directory = _sweep_directory(args.directory)
    return status(directory, _console(), as_json_output=args.json, watch=args.watch, shown=args.directory)


def _retry(args: argparse.Namespace) -> int:
    from hydraflow_core.cli.retry import retry

    directory = _sweep_directory(args.directory)
    return retry(directory, args.args, failed_only=args.failed, quiet=args.quiet, console=_console(),
                 local=args.local, wait=args.wait)


def _cancel(args: argparse.Namespace) -> int:
    from hydraflow_core.cli.cancel import cancel

    return cancel(_sweep_directory(args.directory))


def _expand(args: argparse.Namespace) -> int:
    space = parse_sweep(args.overrides, args.max_values)
    if args.count:
        print(space.count())
        return 0
    write = sys.stdout.write
    for run in space.runs():
        write(shell_join(run) + "\n")
    return 0


def _load_job(args: argparse.Namespace):
    """The job file, checked in depth only for ``args.job`` when one is named."""
    path = jobfile.find(args.file, Path.cwd())
    shown = args.file or jobfile.FILE_NAME
    return jobfile.load(path, shown, only=args.job), shown


def _run(args: argparse.Namespace) -> int:
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
    if args.dry_run:
        if on_slurm:
            parallel = args.max_parallel or job.max_parallel
            sys.stdout.write(dispatch.slurm_dry_run_text(preview.batches, shlex.split(job.target), parallel, job.name,
                                           preview.run_dir))
            return 0
        sys.stdout.write(dry_run_text(preview))
        return 0
    if on_slurm and shutil.which("sbatch") is None:
        raise UsageError(f"{job.where}: jobs.{job.name}.slurm: sbatch not found: this machine is not a Slurm "
                         "login node (--dry-run shows what would be submitted)")
    if job.kind == "call":
        try:
            dispatch.load_function(job.target, directory)
        except UsageError as error:
            raise UsageError(f"{job.where}: jobs.{job.name}.{error}") from None
    else:
        command = submit_command(preview) if job.kind == "submit" else shlex.split(job.target)
        _check_command(command[0], directory, f"{job.where}: jobs.{job.name}.{job.kind}")
    run_id = dispatch.new_run_id(directory, job.name)
    plan = plan_job(job, args.args, run_id, max_batches=args.max_batches)
    console = _console()
    if job.kind == "submit":
        console.print(f"submitting {len(plan.batches)} batches: {plan.run_dir}/batches.txt")
        try:
            code = dispatch.submit(plan, directory)
        except dispatch.Interrupted as stop:
            return stop.exit_code
        return 0 if code == 0 else EXIT_FAILED
    parallel = args.max_parallel or job.max_parallel
    count = len(plan.batches)
    title = f"{job.name}: {count} batch{'es' if count != 1 else ''}"
    console.print(f"{title} -> {_shown_path(directory / plan.run_dir)}")
    interrupted = 0
    with ProgressDisplay(console, len(plan.batches), title) as display:
        try:
            if job.kind == "call":
                function = dispatch.load_function(job.target, directory)
                results = dispatch.run_job(plan, [job.target], directory, 1, display, function=function)
            else:
                results = dispatch.run_job(plan, command, directory, parallel, display, on_slurm=on_slurm)
        except dispatch.Interrupted as stop:
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
    return EXIT_FAILED if any(r.state != dispatch.COMPLETED for r in results) else 0


def _console() -> Console:
    """Rich's console on a copy of the terminal's file descriptor 1.

    ``call`` jobs send fds 1 and 2 to each batch's log while the function
    runs; the live progress bar, drawn from rich's own thread, must keep
    drawing on the terminal, never into a log.
    """
    sys.stdout.flush()
    stream = open(os.dup(sys.stdout.fileno()), "w", encoding=sys.stdout.encoding or "utf-8",
                  errors="replace", closefd=True)
    # Off a terminal (logs, CI) rich would wrap at 80 columns: let tables be as wide as they are.
    return Console(file=stream, highlight=False, width=None if stream.isatty() else 200)


def _list_jobs(args: argparse.Namespace) -> int:
    """``hydraflow run`` alone: every job with its kind, batch count and command."""
    job_file, shown = _load_job(args)
    rows = []
    for job in job_file.jobs.values():
        count = count_batches(job)
        rows.append((job.name, job.kind, f"{count} batch{'es' if count != 1 else ''}", job.target))
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


def _show(args: argparse.Namespace) -> int:
    job_file, shown = _load_job(args)
    names = [args.job] if args.job else list(job_file.jobs)
    jobs = {name: _job_as_dict(jobfile.get_job(job_file, name, shown)) for name in names}
    sys.stdout.write(yaml.safe_dump({"jobs": jobs}, sort_keys=False, width=100))
    return 0


def _job_as_dict(job) -> dict:
    out = {job.kind: job.target}
    if job.with_:
        out["with"] = _words(job.with_)
    if job.max_parallel != 1:
        out["max_parallel"] = job.max_parallel
    steps = []
    for step in job.steps:
        fields = {"batch": step.batch, "zip": step.zip, "args": step.args, "with": step.with_}
        steps.append({k: _words(v) for k, v in fields.items() if v})
    if any(steps):
        out["steps"] = steps
    return out


def _words(words) -> str:
    """Words joined so that hydraflow.yaml reads them back the same (quoted only where needed).

    The loader splits with ``shlex``, which knows no ``$'...'``: a word with a
    newline gets plain single quotes (YAML keeps the newline).
    """
    return " ".join(w if shlex.split(w) == [w] else shlex.quote(w) if "\n" in w or "\t" in w
                    else shell_quote(w) for w in words)


def main(argv: Optional[List[str]] = None) -> int:
    parser = _build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the ARGS of 'hydraflow run JOB ARGS...', wherever they stand
        unknown = [e for e in extra if e.startswith("-")]
        if args.command not in ("run", "retry") or unknown:
            _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown or extra)}")
        args.args = extra
    try:
        return args.handler(args)
    except HydraflowError as error:
        print(f"hydraflow: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("hydraflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `hydraflow expand ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a full disk, a read-only sweep directory: named, no traceback
        from hydraflow_core.executors.local.runone import machine_error

        text = machine_error(error)
        if text is None:
            raise
        print(f"hydraflow: error: {text}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
