"""A site's limits on one user's jobs, read from Slurm before anything is composed or submitted. Light.

Real clusters limit every user: how many jobs one may have queued
(``MaxSubmitJobs`` of the user's association, ``MaxSubmitJobsPerUser`` of the
QOS; each array task counts as one job), how many may run (``MaxJobs``,
``MaxJobsPerUser``) and how big an array may be (``MaxArraySize``). :func:`read`
asks Slurm for them (``scontrol``, ``sacctmgr``, ``squeue``: one call each)
together with how many jobs the user has queued already; where a command is
missing or fails, that limit is unknown and nothing is fitted to it.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from hydraflow_core.errors import HydraflowError

class SiteLimitError(HydraflowError):
    """The sweep cannot be fitted to the user's limits on the cluster (a limit of 0, a queue already full)."""


#: A limit Slurm reports as unset, or -1 after a reset.
_UNSET = ("", "-1")


@dataclass(frozen=True)
class Limits:
    """One user's limits on a cluster (None: no limit known)."""

    max_array_size: int = 1001  # MaxArraySize: array indices 0..N-1
    max_submit: Optional[int] = None  # jobs one may have queued (pending or running); each array task counts
    max_running: Optional[int] = None  # jobs one may have running at once
    queued: int = 0  # jobs the user has queued now (pending or running), each array task counted
    names: Dict[str, str] = field(default_factory=dict)  # each limit as Slurm names it, with where it is set

    @property
    def free(self) -> Optional[int]:
        """Jobs (array tasks) the user may submit now; None: no limit known."""
        return None if self.max_submit is None else max(0, self.max_submit - self.queued)

    def said(self, limit: str) -> str:
        """A limit in words and as Slurm names it: ``your limit of 50 queued jobs (MaxSubmitJobs, association)``."""
        value = getattr(self, limit)
        what = {"max_submit": "queued", "max_running": "running"}[limit]
        return f"your limit of {value} {what} jobs ({self.names.get(limit, limit)})"


def _run(*command: str) -> Optional[str]:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _number(text: str) -> Optional[int]:
    text = text.strip()
    return None if text in _UNSET or not text.lstrip("-").isdigit() else int(text)


def cluster_config() -> str:
    """``scontrol show config`` (empty when it cannot be read)."""
    return _run("scontrol", "show", "config") or ""


def config_value(config: str, name: str) -> Optional[str]:
    match = re.search(rf"^{name}\s*=\s*(\S+)", config, re.M)
    return match.group(1) if match else None


def association(rows: str, account: Optional[str]) -> Dict[str, Optional[int]]:
    """The user's limits from ``sacctmgr -n -P show assoc ... format=Account,MaxSubmitJobs,MaxJobs,QOS,DefaultQOS``
    rows: those of ``account`` (the user's default account), else the tightest of all rows."""
    parsed: List[Dict[str, object]] = []
    for line in rows.splitlines():
        parts = line.split("|")
        if len(parts) < 3:
            continue
        parsed.append({"account": parts[0], "max_submit": _number(parts[1]), "max_running": _number(parts[2]),
                       "qos": (parts[4] if len(parts) > 4 and parts[4] else (parts[3].split(",")[0] if len(parts) > 3
                                                                             else "")) or "normal"})
    mine = [row for row in parsed if account and row["account"] == account] or parsed
    out: Dict[str, Optional[int]] = {}
    for name in ("max_submit", "max_running"):
        values = [row[name] for row in mine if row[name] is not None]
        out[name] = min(values) if values else None  # type: ignore[type-var]
    out["qos"] = mine[0]["qos"] if mine else None  # type: ignore[assignment]
    return out


def qos_limits(rows: str, name: str) -> Dict[str, Optional[int]]:
    """``MaxSubmitPU`` and ``MaxJobsPU`` of QOS ``name`` from ``sacctmgr -n -P show qos format=Name,MaxSubmitPU,MaxJobsPU``."""
    for line in rows.splitlines():
        parts = line.split("|")
        if len(parts) >= 3 and parts[0] == name:
            return {"max_submit": _number(parts[1]), "max_running": _number(parts[2])}
    return {"max_submit": None, "max_running": None}


def read(account: Optional[str] = None, qos: Optional[str] = None) -> Limits:
    """This user's limits on the cluster this machine submits to, and what is queued already."""
    user = os.environ.get("USER") or getpass.getuser()
    config = cluster_config()
    size = int(config_value(config, "MaxArraySize") or 1001)
    cluster = config_value(config, "ClusterName")
    where = [f"user={user}"] + ([f"cluster={cluster}"] if cluster else [])
    if account is None:
        default = _run("sacctmgr", "-n", "-P", "show", "user", user, "format=DefaultAccount")
        account = default.strip().splitlines()[0] if default and default.strip() else None
    rows = _run("sacctmgr", "-n", "-P", "show", "assoc", "where", *where,
                "format=Account,MaxSubmitJobs,MaxJobs,QOS,DefaultQOS") or ""
    assoc = association(rows, account)
    qos = qos or assoc.get("qos") or "normal"
    per_qos = qos_limits(_run("sacctmgr", "-n", "-P", "show", "qos", "format=Name,MaxSubmitPU,MaxJobsPU") or "", qos)
    values: Dict[str, Optional[int]] = {}
    names: Dict[str, str] = {}
    for limit, (assoc_name, qos_name) in {"max_submit": ("MaxSubmitJobs", "MaxSubmitJobsPerUser"),
                                          "max_running": ("MaxJobs", "MaxJobsPerUser")}.items():
        found = [(v, n) for v, n in ((assoc[limit], f"{assoc_name}, association"),
                                     (per_qos[limit], f"{qos_name}, QOS {qos}")) if v is not None]
        if found:
            values[limit], names[limit] = min(found)
        else:
            values[limit] = None
    return Limits(size, values["max_submit"], values["max_running"], queued_now(user), names)


def queued_now(user: Optional[str] = None) -> int:
    """How many jobs the user has queued now (pending or running), each array task counted; 0 if squeue fails."""
    queue = _run("squeue", "-h", "-r", "-u", user or os.environ.get("USER") or getpass.getuser(), "-o", "%i")
    return len(queue.split()) if queue else 0


def fit(runs: Optional[int], runs_per_task: Optional[int], limits: Limits, groups: int = 1, noun: str = "runs",
        setting: Optional[str] = "hydra.launcher.runs_per_task") -> Tuple[int, Optional[str]]:
    """Runs per task so that a sweep's array tasks fit the jobs the user may queue.

    ``runs_per_task`` None: the user left it to hydraflow (1, or as many as
    the limit needs); a number is kept, and tasks that do not fit go out in
    waves (:mod:`.waves`). Runs are packed to fit what is free now while at
    least half the limit is; with the queue fuller than that, packing into
    so few tasks would make them long: they are packed to fit the limit
    itself, and go out in waves. ``groups``: arrays that pack apart
    (per-run resources), each of which may end in a part-full task; ``noun``
    and ``setting`` name what is packed and the setting that packs it.
    Returns the runs per task and a line saying what was chosen and why
    (None: nothing to say). :class:`SiteLimitError` for a limit of 0.
    """
    chosen = runs_per_task or 1
    free = limits.free
    if free is None or limits.max_submit is None or not runs:
        return chosen, None
    if limits.max_submit == 0:
        raise SiteLimitError(f"{limits.said('max_submit')} lets you submit no job on this cluster: ask the site "
                             f"for a limit above 0, or submit to another account or QOS (hydra.launcher.slurm.account, "
                             f"hydra.launcher.slurm.qos)")
    tasks = -(-runs // chosen) + groups - 1
    if tasks <= free or runs_per_task is not None:
        return chosen, None
    room = free if free >= max(groups, limits.max_submit // 2) else limits.max_submit
    per_task = -(-runs // max(1, room - groups + 1))
    count = -(-runs // per_task)
    return per_task, (f"hydraflow: {runs} {noun} packed {per_task} per task into {count} array task(s) to fit "
                      f"{limits.said('max_submit')} ({limits.queued} queued now)"
                      + (f"; {setting} sets it" if setting else ""))
