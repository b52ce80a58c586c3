"""The ``hydra.launcher.slurm.*`` settings: names, defaults, meaning, checks. Light (no submitit).

The names are hydra-submitit-launcher's, so a config written for
``submitit_slurm`` keeps every field when it switches to ``hydraflow_slurm``;
the ones it hides (teardown, exclusive, dependency, ...) are here too.
"""

from __future__ import annotations

from hydraflow_core.errors import did_you_mean
from typing import Any, Dict, List, Optional, Tuple



#: hydra.launcher.slurm.* fields: name -> (submitit's parameter, meaning). Names as in hydra-submitit-launcher.
FIELDS: Dict[str, Tuple[Optional[str], str]] = {
    "partition": ("partition", "partition to submit to"),
    "timeout_min": ("time", "time limit of one array task, in minutes"),
    "cpus_per_task": ("cpus_per_task", "CPUs of one array task"),
    "gpus_per_node": ("gpus_per_node", "GPUs per node"),
    "tasks_per_node": ("ntasks_per_node", "Slurm tasks per node (srun)"),
    "mem_gb": ("mem", "memory per node, in GB"),
    "nodes": ("nodes", "nodes per array task"),
    "qos": ("qos", "quality of service"),
    "constraint": ("constraint", "node features required (--constraint)"),
    "account": ("account", "account to charge"),
    "gres": ("gres", "generic resources (--gres)"),
    "comment": ("comment", "a comment shown by squeue"),
    "exclude": ("exclude", "nodes not to use"),
    "cpus_per_gpu": ("cpus_per_gpu", "CPUs per GPU"),
    "gpus_per_task": ("gpus_per_task", "GPUs per Slurm task"),
    "mem_per_gpu": ("mem_per_gpu", "memory per GPU (e.g. 16G)"),
    "mem_per_cpu": ("mem_per_cpu", "memory per CPU (e.g. 4G)"),
    "signal_delay_s": ("signal_delay_s", "seconds before the time limit when the requeue signal comes"),
    "max_num_timeout": (None, "how many times a timed-out or preempted task is requeued"),
    "array_parallelism": ("array_parallelism", "most array tasks running at once (%N)"),
    "setup": ("setup", "shell lines run on the node before the app"),
    "teardown": ("teardown", "shell lines run on the node after the app"),
    "srun_args": ("srun_args", "extra srun arguments"),
    "additional_parameters": ("additional_parameters", "other sbatch options, as a mapping"),
    "submitit_folder": (None, "where submitit keeps its files and the tasks' stdout/stderr"),
    "exclusive": ("exclusive", "nodes not shared with other jobs"),
    "dependency": ("dependency", "sbatch --dependency"),
    "nodelist": ("nodelist", "nodes to use"),
    "mail_type": ("mail_type", "sbatch --mail-type"),
    "mail_user": ("mail_user", "sbatch --mail-user"),
    "wckey": ("wckey", "workload characterization key"),
    "use_srun": ("use_srun", "start the app through srun"),
    "job_name": ("job_name", "the jobs' name (default: the app's job name); hydra-submitit-launcher's `name`"),
    "stderr_to_stdout": ("stderr_to_stdout", "the tasks' stderr into their stdout file"),
    "max_array_size": (None, "most tasks of one array (default: the cluster's MaxArraySize)"),
    "python": (None, "the command that starts Python on the node, e.g. 'singularity exec img.sif python' "
                     "(default: this interpreter)"),
}


#: Defaults, as hydra-submitit-launcher's SlurmQueueConf has them (None: leave it to Slurm).
DEFAULTS: Dict[str, Any] = {
    "submitit_folder": "${hydra.sweep.dir}/.submitit/%j", "timeout_min": 60, "cpus_per_task": None,
    "gpus_per_node": None, "tasks_per_node": 1, "mem_gb": None, "nodes": 1, "partition": None, "qos": None,
    "comment": None, "constraint": None, "exclude": None, "gres": None, "cpus_per_gpu": None,
    "gpus_per_task": None, "mem_per_gpu": None, "mem_per_cpu": None, "account": None, "signal_delay_s": 120,
    "max_num_timeout": 0, "additional_parameters": {}, "array_parallelism": 256, "setup": None,
    "srun_args": None, "teardown": None, "exclusive": None, "dependency": None, "nodelist": None,
    "mail_type": None, "mail_user": None, "wckey": None, "use_srun": True, "job_name": None,
    "max_array_size": None, "stderr_to_stdout": False, "python": None,
}

_WHOLE = ("timeout_min", "nodes", "tasks_per_node", "cpus_per_task", "gpus_per_node", "gpus_per_task",
          "cpus_per_gpu", "signal_delay_s", "max_num_timeout", "array_parallelism", "max_array_size")


#: Fields holding text that goes into the sbatch script's #SBATCH lines (a newline there breaks it).
_TEXT = ("partition", "qos", "constraint", "account", "gres", "comment", "exclude", "mem_per_gpu", "mem_per_cpu",
         "dependency", "nodelist", "mail_type", "mail_user", "wckey", "job_name", "python")


def problems(settings: Dict[str, Any]) -> List[str]:
    """Every bad hydra.launcher.slurm.* field: unknown names (with did-you-mean) and bad values."""
    out = []
    for name, value in settings.items():
        if name == "mem_gb" and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                                       or value <= 0):
            out.append(f"slurm.mem_gb must be a positive number of GB (e.g. 16), not {value!r}")
        if name in _TEXT and isinstance(value, str) and ("\n" in value or "\r" in value):
            out.append(f"slurm.{name} must be one line of text, not {value!r}")
        if name not in FIELDS:
            out.append(f"slurm.{name}: unknown field{did_you_mean(name, FIELDS)}; valid fields: "
                       f"{', '.join(sorted(FIELDS))}")
        elif name == "python" and value is not None and (not isinstance(value, str) or not value.strip()):
            out.append(f"slurm.python must be a command that starts Python (e.g. 'singularity exec img.sif "
                       f"python'), not {value!r}")
        elif name in _WHOLE and value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                                        or value < (0 if name == "max_num_timeout" else 1)):
            least = 0 if name == "max_num_timeout" else 1
            out.append(f"slurm.{name} must be a whole number of at least {least}, not {value!r}")
    return out


def submitit_parameters(settings: Dict[str, Any], job_name: str) -> Dict[str, Any]:
    """hydra.launcher.slurm.* -> submitit SlurmExecutor.update_parameters keywords."""
    params: Dict[str, Any] = {"job_name": job_name}
    for name, value in settings.items():
        target = FIELDS[name][0]
        if target is None or value is None:
            continue
        if name == "mem_gb":
            value = f"{value}GB"
        if name in ("setup", "teardown", "srun_args") and isinstance(value, str):
            value = [value]
        params[target] = value
    return params


def checked_signal_delay(settings: Dict[str, Any]) -> Tuple[Dict[str, Any], Optional[str]]:
    """``settings`` with ``signal_delay_s`` below the time limit, and a warning when it had to be lowered.

    Slurm sends the warning signal ``signal_delay_s`` before ``timeout_min``;
    a delay of at least the limit (the default 120 s with ``timeout_min: 1``)
    would signal the task as it starts. It is lowered to a quarter of the limit.
    """
    delay, limit = settings.get("signal_delay_s"), settings.get("timeout_min")
    if not isinstance(delay, int) or not isinstance(limit, int) or delay < limit * 60:
        return settings, None
    lowered = max(1, limit * 60 // 4)
    return ({**settings, "signal_delay_s": lowered},
            f"hydra.launcher.slurm.signal_delay_s={delay} is not below the time limit (timeout_min={limit}, "
            f"{limit * 60} s): the warning signal comes {lowered} s before the limit instead")
