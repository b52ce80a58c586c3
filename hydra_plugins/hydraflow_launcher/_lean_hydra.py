"""What the lean run path takes from the running Hydra: which run_job it reproduces, and that run_job's own
ways of calling the task and of warning about ``hydra.job.chdir``.

The lean path was checked against hydra-core 1.3.x and Hydra 1.4.0.devN
(main), with OmegaConf 2.3 and 2.4: :data:`UNVERIFIED` says why else, and
then every run goes to ``run_job`` (:mod:`._lean`). 1.4's run_job logs a
failed task to the job's log and records a KeyboardInterrupt before raising
it again; 1.3's does neither, and warns before changing directory when
``hydra.job.chdir`` is unset (version_base < 1.2).
"""

from __future__ import annotations

import inspect
import re
from textwrap import dedent
from typing import Any, Callable, Dict, Optional, Tuple

import hydra
import omegaconf
from hydra.core import utils as hydra_utils
from hydra.core.utils import JobStatus


def family() -> Tuple[Optional[str], Optional[str]]:
    """``("1.3" | "1.4", None)`` for a Hydra and OmegaConf the lean path was checked against, else
    ``(None, why not)``."""
    version = hydra.__version__
    found = "1.3" if re.fullmatch(r"1\.3\.\d+", version) else "1.4" if re.fullmatch(r"1\.4\.0\.dev\d+", version) else None
    if found is None:
        return None, f"Hydra {version} is not a version it was checked against (1.3.x, 1.4.0.devN)"
    if not re.match(r"2\.[34]\.", omegaconf.__version__):
        return None, f"OmegaConf {omegaconf.__version__} is not a version it was checked against (2.3, 2.4)"
    needed = ["env_override", "_flush_loggers", "JobRuntime", "configure_log", "run_job"]
    needed += ["_log_job_error_to_file"] if found == "1.4" else []
    missing = [name for name in needed if not hasattr(hydra_utils, name)]
    if missing:
        return None, f"hydra.core.utils has no {', '.join(missing)}"
    return found, None


FAMILY, UNVERIFIED = family()

#: The call of the task in run_job, and what it does with its outcome (the lines after it, below).
CALL_LINE = "ret.return_value = task_function(task_cfg)"
_AFTER_CALL = """\
    ret.status = COMPLETED
except Exception as e:
    LOG_ERROR()
    ret.return_value = e
    ret.status = FAILED
except KeyboardInterrupt as e:
    if not RECORD_INTERRUPT:
        raise
    ret.return_value = e
    ret.status = FAILED
    return e
return None
"""


def task_caller() -> Tuple[Optional[Callable[..., Optional[BaseException]]], Optional[str]]:
    """``(call, None)``: ``call(task_function, task_cfg, ret)`` runs the task as run_job does (a failure
    caught and recorded in ``ret``; on 1.4 logged to the job's log, and an interrupt recorded and returned),
    from code compiled as run_job's own line of run_job's own file: a failed task's traceback, which its
    log shows, names the same frame. ``(None, why not)`` where run_job's source cannot be read."""
    try:
        lines, first = inspect.getsourcelines(hydra_utils.run_job)
        at = next(i for i, text in enumerate(lines) if text.strip() == CALL_LINE)
    except (OSError, TypeError, StopIteration):
        return None, "the source of Hydra's run_job is not readable (a failed task's traceback names it)"
    call, lineno = lines[at].rstrip("\n"), first + at
    indent = len(call) - len(call.lstrip())
    if lineno < 3 or indent < 4:
        return None, "Hydra's run_job is laid out differently"
    pad = " " * (indent - 4)  # the try's; the call keeps its own column (a traceback's ^^^ under it)
    after = "".join(f"{pad}{line}\n" for line in _AFTER_CALL.splitlines())
    source = "\n" * (lineno - 3) + f"def run_job(task_function, task_cfg, ret):\n{pad}try:\n{call}\n{after}"
    scope: Dict[str, Any] = {
        "COMPLETED": JobStatus.COMPLETED, "FAILED": JobStatus.FAILED,
        "LOG_ERROR": getattr(hydra_utils, "_log_job_error_to_file") if FAMILY == "1.4" else (lambda: None),
        "RECORD_INTERRUPT": FAMILY == "1.4",  # recorded, told to the callbacks, raised again by the caller
    }
    exec(compile(source, hydra_utils.__file__, "exec"), scope)
    return scope["run_job"], None


CALL_TASK, _unreadable = task_caller() if FAMILY else (None, None)
UNVERIFIED = UNVERIFIED or _unreadable


def _chdir_warning() -> Optional[Callable[..., None]]:
    """Hydra 1.3's warning that run_job changes directory (``hydra.job.chdir`` unset, version_base < 1.2);
    None where it is not found (such runs go to run_job)."""
    try:
        from hydra._internal.deprecation_warning import deprecation_warning
    except ImportError:
        return None
    return deprecation_warning


DEPRECATION_WARNING = _chdir_warning()
CHDIR_WARNING = dedent(
    """\
    Future Hydra versions will no longer change working directory at job runtime by default.
    See https://hydra.cc/docs/1.2/upgrades/1.1_to_1.2/changes_to_job_working_dir/ for more information.""")
