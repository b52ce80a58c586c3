"""What a sweep tells people when it ends early or with failures (the Hydra plugin's sweeps)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional

from hydraflow_core.manifest import TIMED_OUT


def next_steps(sweep_dir: Path, slurm: bool = False) -> str:
    where = shown(sweep_dir)
    return (f"every run's state: hydraflow status {where}\n"
            f"run again what did not complete: hydraflow retry {where}\n"
            + (f"cancel what has not ended: hydraflow cancel {where}\n" if slurm else ""))


def shown(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive
        return str(path)
    text = relative if not relative.startswith("..") else str(path)
    return text if " " not in text else f"'{text}'"


def failure_summary(total: int, failures: List[Any], done: Optional[int] = None,
                    machine: Optional[str] = None) -> str:
    """The sweep's end in lines: counts, then each failed run (``failures``: RunResults, by number)."""
    done = total if done is None else done
    lines = []
    if machine:
        lines.append(f"hydraflow: stopped starting runs: {machine}")
    not_run = f", {total - done} not run" if done < total else ""
    timed_out = sum(result.state == TIMED_OUT for result in failures)
    failed = len(failures) - timed_out
    if failed or not timed_out:
        what = f"{failed} of {total} runs failed" + (f" and {timed_out} timed out" if timed_out else "")
    else:
        what = f"{timed_out} of {total} runs timed out"
    lines.append(f"hydraflow: {what} ({done - len(failures)} completed{not_run})" + (":" if failures else ""))
    tracebacks_in_logs = False
    for result in failures:
        lines.append(f"  #{result.run.number} {' '.join(result.run.overrides)}")
        lines.append(f"      {(result.error or result.state).splitlines()[0]}")
        if result.job_id and not str(result.job_id).startswith("local:"):
            lines.append(f"      slurm job: {result.job_id}")
        if result.log:
            lines.append(f"      log: {result.log}")
        elif result.output_dir:
            lines.append(f"      output: {result.output_dir}")
        tracebacks_in_logs = tracebacks_in_logs or result.traceback_logged
    if tracebacks_in_logs:
        lines.append("The traceback of a failed run is at the end of its log.")
    return "\n".join(lines)
