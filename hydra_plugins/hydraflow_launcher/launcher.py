"""`hydra/launcher=hydraflow`: dispatches runs, in-process or to forked workers.

Hydra imports this module at start-up: the heavy parts are imported lazily.
"""

import atexit
import logging
from pathlib import Path
from typing import Any, List, Optional, Sequence

from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

BACKENDS = ("local",)


class HydraflowLauncher(Launcher):
    def __init__(self, backend: str = "local", max_parallel: int = 1, gpus: Any = (),
                 runs_per_task: int = 1, **unknown: Any) -> None:
        problems = []
        if unknown:
            problems.append(f"unknown field(s) {', '.join(sorted(unknown))}")
        if backend not in BACKENDS:
            problems.append(f"backend '{backend}' is not one of: {', '.join(BACKENDS)}")
        for name, value in (("max_parallel", max_parallel), ("runs_per_task", runs_per_task)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a whole number of at least 1, not {value!r}")
        if problems:
            valid = "backend, max_parallel, gpus, runs_per_task"
            raise HydraException("hydra.launcher: " + "; ".join(problems) + f" (valid fields: {valid})")
        self.backend = backend
        self.max_parallel = max_parallel
        if OmegaConf.is_config(gpus):
            gpus = OmegaConf.to_container(gpus)
        if isinstance(gpus, (int, str)):
            gpus = [g for g in str(gpus).split(",") if g.strip()]
        self.gpus = [str(g).strip() for g in (gpus or [])]
        self.runs_per_task = runs_per_task
        self.keep_configs = True  # the hydraflow sweeper turns this off for large sweeps
        self.ctx = None
        self.pool = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from ._compose import RunComposer
        from ._local import Context

        self.config = config
        self.ctx = Context(hydra_context, task_function, config, RunComposer(hydra_context, config))

    @property
    def composer(self):
        return self.ctx.composer

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from hydra.core.utils import configure_log, filter_overrides, setup_globals

        from ._local import WorkerPool, execute

        assert self.ctx is not None, "setup() was not called"
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        self.ctx.keep_configs = self.keep_configs
        runs = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
        workers = min(self.max_parallel, -(-len(runs) // self.runs_per_task))
        where = "in this process" if workers <= 1 else f"on {workers} workers"
        log.info(f"Launching {len(runs)} jobs locally {where}")
        for number, overrides in runs:
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
        if self.max_parallel == 1:
            if self.gpus:
                import os

                os.environ["CUDA_VISIBLE_DEVICES"] = self.gpus[0]
            return [execute(self.ctx, number, overrides) for number, overrides in runs]
        if self.pool is None:
            self.pool = WorkerPool(self.ctx, self.max_parallel, self.gpus)
            atexit.register(self.close)
        size = self.runs_per_task
        results = self.pool.run([runs[i:i + size] for i in range(0, len(runs), size)])
        return [results[number] for number, _ in runs]

    def close(self) -> None:
        """Stop the workers (the hydraflow sweeper calls this when the sweep ends)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None
