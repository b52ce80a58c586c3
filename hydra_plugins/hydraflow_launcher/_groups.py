"""Where the hydraflow sweeper's batch groups come from.

Each sub-sweep (a '|' section) is a batch group; with ``hydra.sweeper.job``,
each batch of the job too. The overrides are ``hydra.sweeper.params``, then
the command line's, as Hydra read them (quoted for Hydra's grammar: see
:mod:`._overrides`), or, when ``hydraflow sweep`` started the app, the
overrides it handed over (``HYDRAFLOW_SWEEP``), which Hydra never read and
which are read as ``hydraflow expand`` reads them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, List, Tuple

from omegaconf import OmegaConf

from hydraflow_core.plan import handoff
from hydraflow_core.syntax import parse_sweep
from hydraflow_core.syntax.parser import unquote_groups

from ._overrides import evaluate_functions, prepare
from hydraflow_core.cli.reasons import base60_source

log = logging.getLogger(__name__)


def batch_groups(sweeper: Any, arguments: List[str], composer: Any) -> list:
    """The sweep's batch groups (see the module docstring), in order; nothing is expanded yet."""
    params = [f"{key}={_param_text(sweeper, key, value)}" for key, value in sweeper.params.items()]

    def ready(overrides: List[str]) -> List[str]:
        return [unquote_groups(o) for o in prepare(overrides, composer.parser, composer.loader)]

    handed = handoff.take()
    if handed is not None:
        handoff.check_command_line(handed, arguments)
        overrides = ready(params) + evaluate_functions(list(handed.overrides), composer.parser, composer.loader)
    else:
        overrides = ready(params + list(arguments))
    if not sweeper.job:
        return parse_sweep(overrides).groups()
    from hydraflow_core.jobs import load as jobfile
    from hydraflow_core.jobs.batches import plan_job

    path, shown_as = _job_file(sweeper)
    job = jobfile.get_job(jobfile.load(path, shown_as), sweeper.job, str(path))
    groups = []
    for batch in plan_job(job, generated=False).batches:
        groups.extend(parse_sweep([*ready(list(batch.arguments)), *overrides]).groups())
    return groups


def _job_file(sweeper: Any) -> Tuple[Path, str]:
    """The job file of `hydra.sweeper.job`: `hydra.sweeper.file`, else hydraflow.yaml where Hydra started."""
    from hydraflow_core.jobs.load import FILE_NAME
    from hydraflow_core.errors import UsageError

    cwd = Path(str(sweeper.config.hydra.runtime.cwd))
    if sweeper.file:
        path = cwd / str(sweeper.file)
        if not path.is_file():
            problem = "a directory, not a file" if path.is_dir() else "no such file"
            raise UsageError(f"hydra.sweeper.file={sweeper.file}: {problem} (in {cwd})")
        return path, str(sweeper.file)
    path = cwd / FILE_NAME
    if not path.is_file():
        raise UsageError(f"no {FILE_NAME} in {cwd} for hydra.sweeper.job={sweeper.job} "
                         f"(write one, or give its path with hydra.sweeper.file=PATH)")
    return path, FILE_NAME


def _param_text(sweeper: Any, key: str, value: Any) -> str:
    """A `hydra.sweeper.params` value as text; YAML 1.1 turns an unquoted 1:30 into 90."""
    # An int, or its text when Hydra's basic sweeper (Dict[str, str]) read the params before the swap.
    number = value if isinstance(value, int) and not isinstance(value, bool) else (
        int(value) if isinstance(value, str) and value.isdigit() else None)
    if number is not None and number >= 60:
        written = base60_source(sweeper.config, key, number)
        if written is not None:
            log.warning(
                f"hydraflow: hydra.sweeper.params.{key} is the number {number}: YAML 1.1 reads the unquoted "
                f"{written[1]} in {written[0]} as a base-60 number; for a range quote it ('{written[1]}')"
            )
    if isinstance(value, (list, tuple)) or OmegaConf.is_list(value):
        return ",".join(str(v) for v in value)
    return str(value)


