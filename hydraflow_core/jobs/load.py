"""Load and validate ``hydraflow.yaml`` (SPEC 2).

The file is read as PyYAML *nodes* (:mod:`.yaml_nodes`), which keep line marks
(OmegaConf loses them) and the raw text of every scalar (so an unquoted ``1:30``
stays the text ``1:30`` instead of YAML 1.1's base-60 integer 90). Every
problem is collected, then all are reported at once, each as
``FILE:LINE: jobs.NAME.KEY: message``. ``load(..., only=NAME)`` checks only
that job in depth (every problem of it still), so ``hydraflow run j1`` on a
file of 20,000 jobs answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from hydraflow_core.errors import JobFileError, UsageError
from hydraflow_core.jobs import yaml_nodes
from hydraflow_core.errors import did_you_mean
from hydraflow_core.jobs.check import Checker
from hydraflow_core.jobs.model import Job, JobFile

FILE_NAME = "hydraflow.yaml"


def find(file: Optional[str], cwd: Path) -> Path:
    """The job file: ``--file PATH`` or ``hydraflow.yaml`` in ``cwd``."""
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise UsageError(f"{file}: {'a directory, not a file' if path.is_dir() else 'no such file'}")
        return path
    path = cwd / FILE_NAME
    if not path.is_file():
        raise UsageError(f"no {FILE_NAME} in {cwd} (write one, or give its path with --file PATH)")
    return path


def load(path: Path, shown_as: Optional[str] = None, only: Optional[str] = None) -> JobFile:
    """Parse and validate the job file at ``path``; ``shown_as`` names it in messages.

    With ``only``, the other jobs are checked for a valid name only and left out.
    """
    name = shown_as or str(path)
    size = path.stat().st_size
    if size > yaml_nodes.MAX_FILE_BYTES:
        raise JobFileError([f"{name}: {size} bytes, more than the {yaml_nodes.MAX_FILE_BYTES // 2**20} MiB "
                            "a job file may have; is it the right file?"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise JobFileError([f"{name}: not UTF-8 text ({error.reason} at byte {error.start})"]) from None
    root = yaml_nodes.compose(text, name, only)
    if root is None:
        raise JobFileError([f"{name}:1: the file is empty; it needs a 'jobs:' mapping"])
    checker = Checker(name, text.splitlines())
    jobs = checker.root(root, only)
    if checker.problems:
        raise JobFileError(checker.sorted_problems())
    return JobFile(path, jobs, tuple(checker.job_names))


def get_job(job_file: JobFile, name: str, shown_as: str) -> Job:
    if name in job_file.jobs:
        return job_file.jobs[name]
    names = list(job_file.names or job_file.jobs)
    raise UsageError(
        f"no job '{name}' in {shown_as}{did_you_mean(name, names)}; jobs: {', '.join(names) or 'none'}"
    )


