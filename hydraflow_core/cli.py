"""The ``hydraflow`` command (SPEC 4).

Bad input of any kind prints one message on stderr and exits with code 2;
no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from . import __version__
from .errors import HydraflowError
from .shell import join as shell_join
from .syntax import MAX_VALUES, parse_sweep

EXIT_BAD_INPUT = 2


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
    return parser


def _expand(args: argparse.Namespace) -> int:
    space = parse_sweep(args.overrides, args.max_values)
    if args.count:
        print(space.count())
        return 0
    write = sys.stdout.write
    for run in space.runs():
        write(shell_join(run) + "\n")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except HydraflowError as error:
        print(f"hydraflow: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `hydraflow expand ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
