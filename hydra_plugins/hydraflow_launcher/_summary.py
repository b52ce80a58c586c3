"""What the hydraflow sweeper tells people when a sweep ends early or with failures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Tuple

from hydra.core.utils import JobReturn

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


def slim(result: JobReturn) -> JobReturn:
    slim = JobReturn(overrides=result.overrides, working_dir=result.working_dir,
                     task_name=result.task_name, status=result.status,
                     _return_value=result._return_value)
    slim.log_path = getattr(result, "log_path", None)
    slim.traceback_in_log = getattr(result, "traceback_in_log", False)
    slim.job_id = getattr(result, "job_id", None)
    slim.state = getattr(result, "state", None)
    slim.output_dir = None
    if slim.log_path is None and result.hydra_cfg is not None:  # another launcher's result
        slim.output_dir = str(result.hydra_cfg.hydra.runtime.output_dir)
    return slim


def failure_summary(total: int, failures: List[Tuple[int, JobReturn]], done: Optional[int] = None,
                     machine: Optional[str] = None) -> str:
    done = total if done is None else done
    lines = []
    if machine:
        lines.append(f"hydraflow: stopped starting runs: {machine}")
    not_run = f", {total - done} not run" if done < total else ""
    timed_out = sum(getattr(result, "state", None) == TIMED_OUT for _, result in failures)
    failed = len(failures) - timed_out
    if failed or not timed_out:
        what = f"{failed} of {total} runs failed" + (f" and {timed_out} timed out" if timed_out else "")
    else:
        what = f"{timed_out} of {total} runs timed out"
    lines.append(f"hydraflow: {what} ({done - len(failures)} completed{not_run})" + (":" if failures else ""))
    tracebacks_in_logs = False
    for number, result in failures:
        error = result._return_value
        if error is None:
            reason = "failed"
        elif type(error).__name__ == "RunError":  # known only as text: no class name to add
            reason = str(error).splitlines()[0]
        else:
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
        lines.append(f"  #{number} {' '.join(result.overrides or [])}")
        lines.append(f"      {reason}")
        job_id = getattr(result, "job_id", None)
        if job_id and not str(job_id).startswith("local:"):
            lines.append(f"      slurm job: {job_id}")
        if result.log_path:
            lines.append(f"      log: {result.log_path}")
        elif result.output_dir:
            lines.append(f"      output: {result.output_dir}")
        tracebacks_in_logs = tracebacks_in_logs or result.traceback_in_log
    if tracebacks_in_logs:
        lines.append("The traceback of a failed run is at the end of its log.")
    return "\n".join(lines)
