"""The ``hydraflow`` command (SPEC 4).

Bad input of any kind prints one message on stderr and exits with code 2;
no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional


from hydraflow_core import __version__
from hydraflow_core.cli.console import make_console
from hydraflow_core.errors import HydraflowError, UsageError
from hydraflow_core.executors.stop import Stopped
from hydraflow_core.limits import MAX_BATCHES, MAX_VALUES

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

SWEEP_HELP = """\
Read ARGS with the extended sweep syntax, as hydraflow expand reads them (one
level of shell quoting), then start COMMAND once as a Hydra multirun with the
hydraflow launcher and sweeper, which run exactly those runs. Hydra never sees
an extended value, so ranges on typed (dataclass) fields, (..) groups, keyed
pipes and # counts work where python train.py -m ... would stop.

  COMMAND   every word before the first override (KEY=VALUE or ~KEY)
  ARGS      overrides in the extended syntax; hydra.* settings, hydra/launcher=NAME
            and Hydra's options (-cn NAME ...) pass through untouched

A mistake in ARGS is reported before the app starts (exit code 2); otherwise
the exit code is the app's. Ctrl-C is passed on to the app, which records its
runs: hydraflow status / retry work on the sweep directory as for any sweep.

examples:
  hydraflow sweep -- python train.py lr=1m:3m batch_size=16,32
  hydraflow sweep -- python train.py 'model=(cnn,vit)_(s,l)' 'seed=0:2|model=big'
  hydraflow sweep --dry-run -- python train.py 'x=0:1:#5' hydra.launcher.max_parallel=2
"""


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

    sweep = commands.add_parser(
        "sweep",
        usage="hydraflow sweep [-h] [--dry-run] [--max-values N] -- COMMAND [ARGS ...]",
        help="run a sweep typed on the command line (extended syntax) as one Hydra multirun",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=SWEEP_HELP,
    )
    sweep.add_argument("--dry-run", action="store_true",
                       help="print the runs (by batch group) and the app's command, then the launcher's own dry run "
                       "(hydra.launcher.dry_run=true: every run composed, nothing run)")
    sweep.add_argument(
        "--max-values", type=int, default=MAX_VALUES, metavar="N",
        help=f"most values one override may give (default {MAX_VALUES})",
    )
    sweep.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS",
                       help="the app and its overrides, e.g. -- python train.py lr=1m:3m batch_size=16,32")
    sweep.set_defaults(handler=_sweep)

    run = commands.add_parser(
        "run",
        usage="hydraflow run [-h] [--dry-run] [--file PATH] [--max-parallel N] [--max-batches N] "
        "[JOB [ARGS ...]]",
        help="run a job definition of hydraflow.yaml",
        description="Expand a job definition into batches and run each as a Hydra multirun "
        "(run:), a function call (call:), or hand them all to one command (submit:). "
        "Without JOB, list the jobs of the file. ARGS: overrides appended to every batch, expanded and "
        "joined back into comma sweeps like args (seed=0:2 adds seed=0,1,2).",
    )
    run.add_argument("job", nargs="?", metavar="JOB",
                     help="a job name under 'jobs:' in hydraflow.yaml (none: list them)")
    # ARGS (overrides appended to every batch) are the words argparse does not know; see main().
    run.set_defaults(args=[])
    run.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    run.add_argument("--file", metavar="PATH", help="the job file (default: ./hydraflow.yaml)")
    run.add_argument("--resume", action="store_true",
                     help="continue the job's last run: run only the batches (and runs) that did not complete")
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
    status.add_argument("--watch", action="store_true",
                        help="refresh every 2 s until no run is pending or running")
    status.set_defaults(handler=_status)

    from hydraflow_core.cli.results import add_parser as add_results

    add_results(commands, _results)

    retry = commands.add_parser(
        "retry", usage="hydraflow retry [-h] [--failed] [--local] [--wait | --no-wait] DIR "
        "[hydra.launcher.KEY=VALUE ...]",
        help="run again only the runs that did not complete, into the same numbers and directories",
        description="Run again every run of DIR that did not complete (or, with --failed, the failed "
        "and lost ones), with the recorded overrides and launcher settings; hydra.launcher.* overrides "
        "given here win (e.g. hydra.launcher.max_parallel=4). Completed runs are never run again. A sweep "
        "whose launcher or another retry is still running, or whose Slurm runs are pending or running, is "
        "refused (exit code 2).",
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

    show = commands.add_parser(
        "show", help="print job definitions as YAML",
        description="Print the job definitions of hydraflow.yaml as YAML, as hydraflow reads them (list items "
        "merged into steps). With JOB, only that job, and only that job is checked.")
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
    import gc

    from hydraflow_core.cli.status import status

    directory = _sweep_directory(args.directory)
    collecting = gc.isenabled()
    gc.disable()  # the collector's passes over 10^5 runs' records (no cycles) would cost more than reading them
    try:
        return status(directory, make_console(), as_json_output=args.json, watch=args.watch, shown=args.directory)
    finally:
        if collecting:
            gc.enable()


def _results(args: argparse.Namespace) -> int:
    from hydraflow_core.cli.results import results_verb

    return results_verb(args, _sweep_directory(args.directory), make_console())


def _retry(args: argparse.Namespace) -> int:
    from hydraflow_core.cli.retry import retry

    from hydraflow_core.cli.writable import cannot_write

    directory = _sweep_directory(args.directory)
    try:
        return retry(directory, args.args, failed_only=args.failed, quiet=args.quiet, console=make_console(),
                     local=args.local, wait=args.wait)
    except OSError as error:  # its manifest cannot be written: the sweep directory named
        text = cannot_write(error, directory)
        if text is None:
            raise
        raise UsageError(text) from None


def _cancel(args: argparse.Namespace) -> int:
    from hydraflow_core.cli.cancel import cancel

    return cancel(_sweep_directory(args.directory))


def _sweep(args: argparse.Namespace) -> int:
    from hydraflow_core.cli.sweep import sweep_verb

    return sweep_verb(args)


def _run(args: argparse.Namespace) -> int:
    from hydraflow_core.cli.jobs import run_verb

    return run_verb(args)


def _show(args: argparse.Namespace) -> int:
    from hydraflow_core.cli.jobs import show_verb

    return show_verb(args)


def _expand(args: argparse.Namespace) -> int:
    from hydraflow_core.jobs.shell import join as shell_join
    from hydraflow_core.syntax import parse_sweep

    space = parse_sweep(args.overrides, args.max_values)
    if args.count:
        print(space.count())
        return 0
    write = sys.stdout.write
    for run in space.runs():
        write(shell_join(run) + "\n")
    return 0


def _guard_stdout(args: argparse.Namespace) -> None:
    """A verb that starts or stops runs goes on when its stdout's reader goes away (| head), and says so once;
    a read-only one (status, expand, show, a dry run) stops writing quietly (see :mod:`.stdout`)."""
    from hydraflow_core.cli.stdout import guard_stdout, sweep_note

    what = {_sweep: "the sweep goes on, and each run's log is in its output directory",
            _run: "the batches go on, and each batch's log is in the run directory",
            _retry: "the retry goes on, and each run's log is in its output directory",
            _cancel: "the cancel goes on"}.get(args.handler)  # args.command: sweep's own words
    if what and not getattr(args, "dry_run", False) and getattr(args, "job", True) is not None:
        guard_stdout(note=sweep_note(what))


def main(argv: Optional[List[str]] = None) -> int:
    parser = _build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the ARGS of 'hydraflow run JOB ARGS...', wherever they stand
        unknown = [e for e in extra if e.startswith("-")]
        if args.command not in ("run", "retry") or unknown:
            _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown or extra)}")
        args.args = extra
    _guard_stdout(args)
    try:
        return args.handler(args)
    except HydraflowError as error:
        print(f"hydraflow: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as stop:
        print("hydraflow: interrupted", file=sys.stderr)
        return stop.exit_code if isinstance(stop, Stopped) else Stopped().exit_code
    except BrokenPipeError:  # `hydraflow expand ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a read-only directory, a full disk: named, no traceback
        from hydraflow_core.cli.writable import EXIT_CANNOT_WRITE, cannot_write
        from hydraflow_core.executors.local.runone import machine_error

        text = cannot_write(error)
        if text is not None:
            print(f"hydraflow: error: {text}", file=sys.stderr)
            return EXIT_CANNOT_WRITE
        text = machine_error(error)
        if text is None:
            raise
        print(f"hydraflow: error: {text}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
