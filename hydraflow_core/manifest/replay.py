"""Replay: run a chosen set of a sweep's recorded runs again, exactly as they were.

``hydraflow retry`` (and, on Slurm, each array task) starts the user's app
the way the user started it -- same Python, same script and overrides, same
working directory -- with two additions: ``hydra.sweep.dir`` pinned to the
recorded directory, and the environment variable ``HYDRAFLOW_REPLAY``
naming a small spec file. The hydraflow sweeper sees the variable and, instead
of expanding the sweep again, runs exactly the runs the spec lists, with
their recorded numbers and overrides (so the same output directories). An
environment variable rather than an override, because the sweeper may still
be Hydra's basic one when Hydra checks overrides (the launcher's callback
swaps it later), and because it leaves the app's command line untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydraflow_core.errors import HydraflowError, UsageError
from hydraflow_core.manifest.files import ATTEMPTS, PLAN, manifest_dir, write_atomic

ENV = "HYDRAFLOW_REPLAY"
TASK_ENV = "HYDRAFLOW_REPLAY_TASK"  # with an array's spec: which of its tasks this process runs


@dataclass(frozen=True)
class ReplaySpec:
    sweep_dir: str  # absolute
    runs: Tuple[int, ...]  # the recorded run numbers to run
    reason: str = "retry"  # why: 'retry' (hydraflow retry) or 'task' (a Slurm array task)
    attempt: Optional[int] = None  # a task's: the attempt that submitted it (tasks record no attempt of their own)


def launch_record(config_launcher: Dict[str, Any], overrides: Dict[str, List[str]], cwd: str) -> Dict[str, Any]:
    """How this process was started, for the manifest header (so it can be started again)."""
    from hydraflow_core import default_launcher

    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    argv[0] = sys.executable
    # The app got the hydraflow launcher through the environment (hydraflow run's batches): so must its replays.
    env = default_launcher.environment() if default_launcher.active() else {}
    return {"python": sys.executable, "argv": argv, "cwd": cwd, "overrides": overrides,
            "launcher": config_launcher, **({"env": env} if env else {})}


def replay_env(header: Dict[str, Any]) -> Dict[str, str]:
    """The environment variables the sweep's app was started with that its replays need (see launch_record)."""
    return {str(k): str(v) for k, v in ((header.get("launch") or {}).get("env") or {}).items()}


def hydra_quote(text: str) -> str:
    """``text`` as a quoted value Hydra's override parser reads back verbatim."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_spec(sweep_dir: os.PathLike, runs: Sequence[int], reason: str = "retry") -> Path:
    directory = manifest_dir(sweep_dir)
    path = directory / f"replay-{int(time.time() * 1000)}-{os.getpid()}.json"
    record = {"sweep_dir": str(Path(sweep_dir).absolute()), "runs": list(runs), "reason": reason}
    write_atomic(path, json.dumps(record) + "\n")
    return path


def write_task_spec(path: os.PathLike, sweep_dir: os.PathLike, attempt: int, tasks: Sequence[Sequence[int]]) -> Path:
    """A spec for tasks of one launch (a Slurm array, a fresh interpreter): ``HYDRAFLOW_REPLAY_TASK`` picks one.

    Such a task never runs a run that already completed (it may be a requeued
    Slurm task), nor one that a later attempt owns (a retry started since).
    """
    record = {"sweep_dir": str(Path(sweep_dir).absolute()), "reason": "task", "attempt": attempt,
              "tasks": [list(t) for t in tasks]}
    write_atomic(Path(path), json.dumps(record) + "\n")
    return Path(path)


def current_spec() -> Optional[ReplaySpec]:
    """The replay this process was started for, if any (``HYDRAFLOW_REPLAY``)."""
    path = os.environ.get(ENV)
    if not path:
        return None
    try:
        record = json.loads(Path(path).read_text())
        if "tasks" in record:  # a Slurm array: this process runs the task HYDRAFLOW_REPLAY_TASK names
            runs = record["tasks"][int(os.environ[TASK_ENV])]
        else:
            runs = record["runs"]
        return ReplaySpec(str(record["sweep_dir"]), tuple(int(n) for n in runs), str(record.get("reason", "retry")),
                          record.get("attempt"))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        raise UsageError(f"{ENV}={path}: cannot read the replay spec: {error}") from None


def replay_runs(spec: ReplaySpec, sweep_dir: Path) -> Tuple[List[List[Any]], Dict[int, str]]:
    """The recorded runs a replay names (:class:`~hydraflow_core.plan.Run`), by group, and their recorded
    output subdirectories.

    A task of a launch (``reason`` 'task': a maybe requeued Slurm task) never
    runs a run that completed, nor one that a later attempt (a retry started
    since) owns.
    """
    from hydraflow_core.manifest.read import read
    from hydraflow_core.manifest.states import COMPLETED
    from hydraflow_core.plan import Run

    if Path(spec.sweep_dir).absolute() != sweep_dir:
        raise HydraflowError(f"{ENV} names a replay of {spec.sweep_dir}, but this sweep's directory is "
                             f"{sweep_dir}; unset {ENV} to run a new sweep")
    state = read(sweep_dir)
    wanted = set(spec.runs)
    by_group: Dict[int, List[Run]] = {}
    subdirs: Dict[int, str] = {}
    requeued = spec.reason == "task"
    owned = set()
    if requeued:
        for later in state.attempts:
            if (later.get("attempt") or 0) > int(spec.attempt or 0) and later.get("kind") in ("launch", "retry"):
                owned.update(later.get("numbers") or [])
    for record in state.runs:
        if record.number not in wanted:
            continue
        if requeued and (record.state == COMPLETED or record.number in owned):
            wanted.discard(record.number)
            continue
        by_group.setdefault(record.group, []).append(Run(record.number, tuple(record.overrides), record.group))
        if record.output_dir:
            with contextlib.suppress(ValueError):
                subdirs[record.number] = str(Path(record.output_dir).relative_to(sweep_dir))
    missing = wanted - {r.number for runs in by_group.values() for r in runs}
    if missing:
        raise HydraflowError(f"{sweep_dir}: the manifest has no run {', '.join(f'#{n}' for n in sorted(missing)[:5])}")
    return [by_group[g] for g in sorted(by_group)], subdirs


def first_runs(spec: ReplaySpec, sweep_dir: Path) -> List[Any]:
    """A task's runs when the task runs for the first time (not requeued): as :func:`replay_runs` gives
    them, read from the plan and the attempts alone. No run of the task can have started in its attempt
    yet, so the events (one file per process: thousands in a large sweep) need no reading."""
    from hydraflow_core.manifest.files import read_lines
    from hydraflow_core.plan import Run

    directory = manifest_dir(sweep_dir)
    owned = set()
    for later in read_lines(directory / ATTEMPTS):
        if (later.get("attempt") or 0) > int(spec.attempt or 0) and later.get("kind") in ("launch", "retry"):
            owned.update(later.get("numbers") or [])
    wanted = set(spec.runs) - owned
    runs = {}
    for record in read_lines(directory / PLAN):
        number = record.get("run")
        if number in wanted:
            runs[number] = Run(number, tuple(record.get("overrides") or ()), record.get("group", 0))
    missing = wanted - set(runs)
    if missing:
        raise HydraflowError(f"{sweep_dir}: the manifest has no run {', '.join(f'#{n}' for n in sorted(missing)[:5])}")
    return [runs[n] for n in spec.runs if n in runs]


def replay_command(header: Dict[str, Any], extra: Sequence[str] = ()) -> Tuple[List[str], str]:
    """The recorded app command, pinned to its sweep directory, with ``extra`` overrides last."""
    launch = header.get("launch") or {}
    argv = list(launch.get("argv") or [])
    if not argv:
        raise UsageError(f"{header.get('sweep_dir')}: the manifest does not say how the sweep was launched")
    argv[0] = launch.get("python") or argv[0]
    pinned = f"hydra.sweep.dir={hydra_quote(str(header['sweep_dir']))}"
    # The recorded directory, said once: an earlier hydra.sweep.dir=... of the command line gives way to it.
    argv = [a for a in argv if not a.lstrip("+").startswith("hydra.sweep.dir=")]
    return [*argv, pinned, *extra], str(launch.get("cwd") or ".")
