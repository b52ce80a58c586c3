"""Tasks as Slurm job arrays through submitit: one ``sbatch`` per array, never one per run. Heavy (submitit).

Tasks with the same settings (the executor's ``slurm.*`` with a task's own
resources over them) go out as one array, split at the cluster's
``MaxArraySize``; each array's %N is ``max_parallel`` when it is given, else
``slurm.array_parallelism``. What submitit pickles is a
:class:`~.node.NodeTask` -- the path of a spec file -- never the user's
function or config. The sbatch script of each array is kept in
``.hydraflow/slurm/``, and ``.hydraflow/slurm.jsonl`` maps each array to its
job id, each task's Slurm id (``123_4``, or ``876`` for a one-task
submission) and each task's runs.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import submitit

from hydraflow_core.errors import HydraflowError
from hydraflow_core.executors import stop as stops
from hydraflow_core.executors.slurm.fields import submitit_parameters
from hydraflow_core.executors.slurm.node import NodeTask
from hydraflow_core.executors.slurm.query import max_array_size
from hydraflow_core.manifest import SUBMITIT, add_slurm_record, folder as manifest_folder, write_atomic
from hydraflow_core.plan import Task, chunks

log = logging.getLogger(__name__)


class SchedulerError(HydraflowError):
    """Slurm refused a submission (sbatch's own words, the setting it names, what to do)."""

    submitted: List["Array"] = []  # the arrays of the same call that went out before the refusal


@dataclass
class Array:
    index: int  # 0.. within the attempt
    job_id: str
    task_ids: List[str]  # each task's Slurm id, as submitit gave it
    tasks: List[Task]
    settings: Dict[str, Any]
    script: Optional[str]


def settings_of(task: Task, base: Dict[str, Any], max_parallel: Optional[int]) -> Dict[str, Any]:
    settings = {**base, **dict(task.resources)}
    if max_parallel is not None:
        settings["array_parallelism"] = max_parallel
    return settings


def group_by_settings(tasks: Sequence[Task], base: Dict[str, Any],
                      max_parallel: Optional[int]) -> List[tuple]:
    """``[(settings, tasks)]`` in the order each set of settings first appears."""
    groups: Dict[str, List[Task]] = {}
    for task in tasks:
        groups.setdefault(json.dumps(settings_of(task, base, max_parallel), sort_keys=True, default=str),
                          []).append(task)
    return [(json.loads(key), members) for key, members in groups.items()]


def arrays_of_settings(tasks: Sequence[Task], base: Dict[str, Any],
                       max_parallel: Optional[int]) -> List[Tuple[Dict[str, Any], List[Task]]]:
    """``(settings, tasks)`` of each array to submit: tasks of the same settings together, cut at the
    settings' ``max_array_size`` or else the cluster's MaxArraySize (read once, when needed)."""
    arrays: List[Tuple[Dict[str, Any], List[Task]]] = []
    cluster = None
    for settings, members in group_by_settings(tasks, base, max_parallel):
        size = settings.get("max_array_size")
        if not size:
            cluster = cluster or max_array_size()
            size = cluster
        arrays.extend((settings, list(chunk)) for chunk in chunks(members, max(1, int(size))))
    return arrays


def submit(tasks: Sequence[Task], spec_of, record_dir: Path, attempt: int, base: Dict[str, Any],
           max_parallel: Optional[int], job_name: str, first_index: int = 0,
           extra: Optional[Dict[str, Any]] = None) -> List[Array]:
    """Every task as array tasks; ``spec_of(tasks)`` gives the spec of one array (its kind's fields).

    ``first_index``: the attempt's arrays submitted before (a wave's come after them); ``extra``: more
    fields of each array's record (its ``wave``)."""
    directory = manifest_folder(record_dir, SUBMITIT)
    directory.mkdir(parents=True, exist_ok=True)
    arrays: List[Array] = []
    for settings, chunk in arrays_of_settings(tasks, base, max_parallel):
        folder = str(settings.get("submitit_folder") or f"{record_dir}/.submitit/%j")
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=int(settings.get("max_num_timeout") or 0),
                                          python=settings.get("python") or None)
        executor.update_parameters(**submitit_parameters(settings, job_name))
        index = first_index + len(arrays)
        spec = directory / f"spec-{attempt}-{index}.json"
        write_atomic(spec, json.dumps({**spec_of(chunk), "attempt": attempt}) + "\n")
        node = NodeTask(str(spec), int(settings.get("max_num_timeout") or 0))
        try:
            jobs = submitted(lambda: executor.map_array(node, list(range(len(chunk)))))
        except (submitit.core.utils.FailedJobError, subprocess.CalledProcessError, OSError) as error:
            refused = refusal(error, settings, arrays)
            refused.submitted = arrays
            raise refused from None
        job_id = str(jobs[0].job_id).split("_")[0]
        script = _keep_script(folder, job_id, directory / f"array-{attempt}-{index}.sh")
        array = Array(index, job_id, [str(j.job_id) for j in jobs], chunk, settings, script)
        add_slurm_record(record_dir, {
            "attempt": attempt, "index": index, "job_id": job_id, "task_ids": array.task_ids,
            "tasks": len(chunk), "tasks_runs": [list(t.numbers) for t in chunk], "script": script,
            "settings": settings, **(extra or {})})
        arrays.append(array)
    return arrays


#: Words of Slurm's answers when it is busy or briefly out of reach: the submission is tried again.
TRANSIENT = ("Socket timed out", "Unable to contact slurm controller", "Slurm temporarily unable",
             "Resource temporarily unavailable", "Connection refused", "Zero Bytes were transmitted")
#: Seconds waited before each new try of a submission Slurm could not take just then.
BACKOFF = (1, 2, 4, 8, 16, 30)


def submitted(submit: Any) -> Any:
    """``submit()``, tried again with back-off while Slurm answers with a transient error."""
    for delay in (*BACKOFF, None):
        try:
            return submit()
        except (submitit.core.utils.FailedJobError, subprocess.CalledProcessError) as error:
            text = f"{error} {getattr(error, 'stderr', '') or ''}"
            if delay is None or not any(word in text for word in TRANSIENT):
                raise
            log.warning(f"hydraflow: Slurm is busy ({text.strip().splitlines()[-1][:200]}); trying again in {delay} s")
            stops.sleep(delay)


#: Words of sbatch's refusals -> the setting that most likely caused them.
_CAUSES = (("partition", "partition"), ("memory", "mem_gb"), ("mem", "mem_gb"), ("time limit", "timeout_min"),
           ("account", "account"), ("qos", "qos"), ("gres", "gres"), ("feature", "constraint"),
           ("node", "nodes"), ("array", "max_array_size"), ("cpu", "cpus_per_task"), ("gpu", "gpus_per_node"))


def refusal(error: BaseException, settings: Dict[str, Any], submitted: List[Array]) -> SchedulerError:
    """One message for a refused submission: Slurm's words, the setting named, what was submitted already."""
    text = str(getattr(error, "stderr", None) or error).strip()
    lines = [line.strip() for line in text.splitlines() if "error" in line.lower()] or text.splitlines()[-1:]
    said = lines[-1] if lines else type(error).__name__
    said = said.split("FailedJobError:")[-1].strip()
    lowered = said.lower()
    field = next((name for word, name in _CAUSES if word in lowered), None)
    hint = ""
    if "submit limit" in lowered or "maxsubmit" in lowered:  # not a setting: the user's limit on queued jobs
        hint = (" (your limit on queued jobs: MaxSubmitJobs of your association or MaxSubmitJobsPerUser of your "
                "QOS, `sacctmgr show assoc user=$USER`; leave hydra.launcher.runs_per_task unset to have runs "
                "packed to fit it)")
    elif field is not None:
        hint = f" (hydra.launcher.slurm.{field}={settings.get(field)!r}; check it against `sinfo` and " \
               f"`sacctmgr show qos`)"
    done = f"; already submitted: {', '.join(a.job_id for a in submitted)}" if submitted else ""
    return SchedulerError(f"Slurm refused the submission: {said}{hint}; no run of it was submitted{done}")


def _keep_script(folder: str, job_id: str, target: Path) -> Optional[str]:
    """The array's sbatch script, copied where users look (submitit keeps it deep in its folder)."""
    try:
        source = submitit.core.utils.JobPaths(folder, job_id=job_id).submission_file
        shutil.copyfile(source, target)
        return str(target)
    except (OSError, AttributeError, ValueError):
        return None


def sbatch_preview(settings: Dict[str, Any], job_name: str, tasks: int, record_dir: str) -> Optional[str]:
    """The sbatch script submitit will write (its own function, private: a preview only, so guarded)."""
    try:
        from submitit.slurm.slurm import _make_sbatch_string

        params = submitit_parameters(settings, job_name)
        folder = str(settings.get("submitit_folder") or f"{record_dir}/.submitit/%j")
        python = settings.get("python") or shlex.quote(sys.executable)
        return _make_sbatch_string(command=f"{python} -u -m submitit.core._submit {shlex.quote(folder)}",
                                   folder=folder, map_count=tasks, **params)
    except Exception:  # submitit moved it: the settings above say what matters
        return None
