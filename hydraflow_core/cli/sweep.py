"""``hydraflow sweep [--dry-run] -- COMMAND ARGS...``: a sweep typed on the command line, run as one multirun.

ARGS are read with the extended syntax (one level of shell quoting, as
``hydraflow expand`` reads them) before the app starts, so Hydra never sees an
extended value: a range on a typed field, a ``(..)`` group, a keyed pipe or a
``#`` count all work, and a mistake is a caret error before anything runs.
The app starts once, as a Hydra multirun with the hydraflow launcher and
sweeper; its task overrides reach the sweeper through the file that
``HYDRAFLOW_SWEEP`` names (:mod:`hydraflow_core.plan.handoff`), and its
command line carries Hydra's options, ``hydra.*`` settings and the overrides
that are the same in every run (in plain Hydra form), so that the master
config composes as every run does. The app's exit code is ours.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import List, Sequence, Tuple

from hydraflow_core.errors import UsageError
from hydraflow_core.executors.stop import SIGNALS
from hydraflow_core.jobs.shell import join as shell_join
from hydraflow_core.plan import handoff
from hydraflow_core.syntax import SweepSpace, parse_sweep

#: Hydra's options that take the next word as their value.
HYDRA_OPTIONS_WITH_VALUE = frozenset({"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
                                      "--cfg", "-c", "--package", "-p", "--experimental-rerun"})
MULTIRUN = frozenset({"-m", "--multirun"})
SINGLE_RUN = frozenset({"-r", "--run"})
HYDRAFLOW_SWEEPER = "hydraflow"
HYDRAFLOW_LAUNCHERS = ("hydraflow", "hydraflow_slurm")  # the options with hydra.launcher.dry_run


@dataclass(frozen=True)
class SweepCommand:
    """``COMMAND ARGS...`` taken apart."""

    command: Tuple[str, ...]  # the app, as it is started (`python train.py`)
    hydra: Tuple[str, ...]  # Hydra's options and its hydra.* / hydra/ overrides, passed on untouched
    overrides: Tuple[str, ...]  # the task overrides, in the extended syntax


@dataclass(frozen=True)
class Launch:
    argv: Tuple[str, ...]  # the app's command line
    handed: handoff.HandedSweep  # what its sweeper reads from HYDRAFLOW_SWEEP
    launcher: str  # the hydra/launcher option: hydraflow's (with its own dry run) unless it names another


def split_command(words: Sequence[str]) -> SweepCommand:
    """COMMAND is every word before the first override (``KEY=...`` or ``~KEY``); ARGS the rest.

    Hydra's ``-m`` is dropped (the sweep adds it); an option that takes a
    value (``-cn NAME``) keeps its value with it.
    """
    words = list(words)
    start = next((i for i, word in enumerate(words) if _is_override(word)), len(words))
    command, rest = words[:start], words[start:]
    while len(command) > 1 and command[-1] in MULTIRUN:  # `python train.py -m lr=...`
        command.pop()
    if not command:
        raise UsageError("name the app before its overrides: hydraflow sweep -- python train.py ARGS...")
    single = [word for word in [*command[1:], *rest] if word in SINGLE_RUN]
    if single:
        raise UsageError(f"hydraflow sweep starts a multirun: leave out {single[0]}")
    hydra: List[str] = []
    overrides: List[str] = []
    words_left = iter(rest)
    for word in words_left:
        if word in MULTIRUN:
            continue
        if word.startswith("-"):
            hydra.append(word)
            value = next(words_left, None) if word in HYDRA_OPTIONS_WITH_VALUE else None
            if value is not None:
                hydra.append(value)
        elif _key(word).startswith(("hydra.", "hydra/")) or _key(word) == "hydra":
            hydra.append(word)
        else:
            overrides.append(word)
    return SweepCommand(tuple(command), tuple(hydra), tuple(overrides))


def plan_launch(parts: SweepCommand, space: SweepSpace) -> Launch:
    """The app's command line: COMMAND -m, the hydraflow launcher and sweeper, Hydra's words, the fixed overrides."""
    chosen = {_key(word): word.partition("=")[2].strip() for word in parts.hydra if "=" in word}
    sweeper = chosen.get("hydra/sweeper")
    if sweeper is not None and sweeper != HYDRAFLOW_SWEEPER:
        raise UsageError(f"hydraflow sweep plans the runs with the hydraflow sweeper, not hydra/sweeper={sweeper}: "
                         f"leave it out (another sweeper reads the command line itself: start the app with -m)")
    added = ["-m"]
    if "hydra/launcher" not in chosen:
        added.append("hydra/launcher=hydraflow")
    if sweeper is None:
        added.append(f"hydra/sweeper={HYDRAFLOW_SWEEPER}")
    fixed = tuple(fixed_overrides(space))
    argv = (*parts.command, *added, *parts.hydra, *fixed)
    return Launch(argv, handoff.HandedSweep(parts.overrides, fixed), chosen.get("hydra/launcher", "hydraflow"))


def fixed_overrides(space: SweepSpace) -> List[str]:
    """The overrides that are the same in every run, as plain Hydra overrides (Hydra's own sweeps, glob(), left out)."""
    from hydraflow_core.syntax.hydra_bridge import parser

    fixed = []
    for override in space.overrides:
        if override.piped or override.count() != 1:
            continue
        (text,) = override.sections[0]
        with contextlib.suppress(Exception):
            if not parser().parse_override(text).is_sweep_override():
                fixed.append(text)
    return fixed


def sweep_verb(args: argparse.Namespace) -> int:
    words = list(args.command)
    if words[:1] == ["--"]:
        words = words[1:]
    if not words:
        raise UsageError("name the app to start: hydraflow sweep -- python train.py ARGS...")
    parts = split_command(words)
    space = parse_sweep(list(parts.overrides), args.max_values)  # a caret error here: nothing has started
    launch = plan_launch(parts, space)
    if launch.launcher in HYDRAFLOW_LAUNCHERS:  # a misspelt setting: did-you-mean, before the app starts
        from hydraflow_core.settings import unknown_overridden

        problems = unknown_overridden(parts.hydra)
        if problems:
            raise UsageError("\n".join(f"hydra.launcher: {problem}" for problem in problems))
    groups = space.groups()
    total = sum(group.count() for group in groups)
    argv = list(launch.argv)
    if args.dry_run:
        _print_runs(groups, total, parts)
        print(f"would start: {shell_join(argv)}")
        if launch.launcher not in HYDRAFLOW_LAUNCHERS:
            print(f"nothing started (for the launcher's own dry run, if hydra/launcher={launch.launcher} is "
                  f"hydraflow's, add hydra.launcher.dry_run=true to ARGS instead of --dry-run)")
            return 0
        # The launcher's own dry run: every run composed (a bad value on a typed field shows), nothing run.
        argv.append("hydra.launcher.dry_run=true")
        _check_program(argv[0])
    else:
        _check_program(argv[0])
        print(_counted(total, len(groups), parts))
    print(f"+ {shell_join(argv)}", flush=True)
    descriptor, path = tempfile.mkstemp(prefix="hydraflow-sweep-", suffix=".json")
    os.close(descriptor)
    try:
        handoff.write(path, launch.handed)
        return _run_app(argv, {**os.environ, handoff.ENV: path})
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _counted(total: int, groups: int, parts: SweepCommand) -> str:
    globbed = any("glob(" in override for override in parts.overrides)
    return (f"hydraflow: {total} runs in {groups} batch group(s)"
            + (", each glob() counted as one value (the app expands it)" if globbed else ""))


def _print_runs(groups, total: int, parts: SweepCommand) -> None:
    write = sys.stdout.write
    write(_counted(total, len(groups), parts) + "\n")
    number = 0
    for index, group in enumerate(groups):
        write(f"batch group {index} ({group.count()} runs):\n")
        for run in group.runs():
            write(f"  #{number} {shell_join(run)}\n")
            number += 1


def _run_app(argv: List[str], env: dict) -> int:
    """The app in the foreground, its own process group; every stop signal is passed on to it as it comes.

    The app stops its runs and records them (a second Ctrl-C stops them at
    once, as when it runs alone); its exit code is returned (130 after Ctrl-C).
    """
    from hydraflow_core.executors.local.workers import die_with_parent

    try:
        process = subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=die_with_parent)
    except OSError as error:
        raise UsageError(f"cannot start {argv[0]}: {error.strerror or error}") from None

    def forward(signum, frame) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        if previous[s] is not signal.SIG_IGN or s == signal.SIGINT:  # nohup: SIGHUP stays ignored
            signal.signal(s, forward)
    try:
        code = process.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code if code >= 0 else 128 - code


def _check_program(program: str) -> None:
    found = shutil.which(program) if os.sep not in program else (program if os.access(program, os.X_OK) else None)
    if found is None:
        raise UsageError(f"command '{program}' not found")


def _is_override(word: str) -> bool:
    return not word.startswith("-") and ("=" in word or (word.startswith("~") and len(word) > 1))


def _key(word: str) -> str:
    return word.partition("=")[0].strip().lstrip("~+")
