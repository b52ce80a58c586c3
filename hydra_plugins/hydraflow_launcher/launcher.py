"""`hydra/launcher=hydraflow`: dispatches runs, in-process or to forked workers.

Hydra imports this module at start-up: the heavy parts are imported lazily.
"""

import atexit
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Sequence, Tuple

from hydra.core.utils import JobReturn
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

BACKENDS = ("local",)
FIELDS = ("backend", "max_parallel", "gpus", "runs_per_task")


class LauncherSettingsError(CompactHydraException):
    """Bad hydra.launcher.* values: Hydra prints the message alone."""


# A GPU id as CUDA_VISIBLE_DEVICES takes it: an index, or a GPU / MIG UUID.
_GPU_ID = re.compile(r"[0-9]+|(GPU|MIG)-[0-9A-Za-z/-]+")


def _gpu_problems(gpus: Any) -> List[str]:
    valid = "gpus must hold GPU ids: whole numbers (0, 1, ...) or GPU UUIDs (GPU-..., MIG-...)"
    if gpus is None:
        return []
    if not isinstance(gpus, (list, tuple)):
        return [f"gpus must be a list of GPU ids, e.g. [0,1], not {gpus!r}"]
    bad = [g for g in gpus if isinstance(g, bool) or not isinstance(g, (int, str))
           or (isinstance(g, int) and g < 0) or (isinstance(g, str) and not _GPU_ID.fullmatch(g.strip()))]
    if bad:
        return [f"{valid}, not {', '.join(repr(g) for g in bad)}"]
    return []


class HydraflowLauncher(Launcher):
    def __init__(self, backend: str = "local", max_parallel: int = 1, gpus: Any = (),
                 runs_per_task: int = 1, **unknown: Any) -> None:
        # Checked in setup(): an error raised here would reach the user wrapped by Hydra's instantiate.
        self.backend, self.max_parallel, self.runs_per_task, self.unknown = backend, max_parallel, runs_per_task, unknown
        if OmegaConf.is_config(gpus):
            gpus = OmegaConf.to_container(gpus)
        if isinstance(gpus, str):
            gpus = [g.strip() for g in gpus.split(",") if g.strip()]
        elif isinstance(gpus, int) and not isinstance(gpus, bool):
            gpus = [gpus]
        self.raw_gpus = gpus
        self.gpus = [str(g).strip() for g in gpus] if isinstance(gpus, (list, tuple)) else []
        self.keep_configs = True  # the hydraflow sweeper turns this off for large sweeps
        self.ctx = None
        self.pool = None

    def _check_settings(self) -> None:
        problems = []
        if self.unknown:
            problems.append(f"unknown field {', '.join(sorted(self.unknown))} (valid fields: {', '.join(FIELDS)})")
        if self.backend not in BACKENDS:
            problems.append(f"backend must be one of: {', '.join(BACKENDS)}, not {self.backend!r}")
        for name in ("max_parallel", "runs_per_task"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a whole number of at least 1, not {value!r}")
        problems.extend(_gpu_problems(self.raw_gpus))
        if problems:
            raise LauncherSettingsError("\n".join(f"hydra.launcher: {p}" for p in problems))
        repeated = sorted({g for g in self.gpus if self.gpus.count(g) > 1})
        if repeated:
            log.warning(f"hydraflow: hydra.launcher.gpus names {', '.join(repeated)} more than once: "
                        f"workers given the same id share that GPU")
        if self.gpus and self.max_parallel > len(self.gpus):
            log.warning(f"hydraflow: {self.max_parallel} workers share {len(self.gpus)} GPUs "
                        f"({', '.join(self.gpus)}), handed out in turn")

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from ._compose import RunComposer
        from ._local import Context

        self._check_settings()
        self.config = config
        self.ctx = Context(hydra_context, task_function, config, RunComposer(hydra_context, config))

    @property
    def composer(self):
        return self.ctx.composer

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Hydra's launcher API: one call, one list of results in run order."""
        results = dict(self.launch_stream([[list(o) for o in job_overrides]], initial_job_idx))
        return [results[initial_job_idx + i] for i in range(len(job_overrides))]

    def launch_stream(self, chunks: Iterable[List[List[str]]], first: int = 0) -> Iterator[Tuple[int, JobReturn]]:
        """Run chunks of runs numbered from ``first``, without waiting between chunks.

        Yields ``(run number, result)`` as runs finish (in order when in-process).
        The hydraflow sweeper streams a whole sweep through this.
        """
        from hydra.core.utils import configure_log, setup_globals

        from ._interrupt import INTERRUPTS
        from ._local import WorkerPool, execute

        assert self.ctx is not None, "setup() was not called"
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        self.ctx.keep_configs = self.keep_configs
        numbered = self._numbered(chunks, first)
        INTERRUPTS.install()
        try:
            if self.max_parallel == 1:
                if self.gpus:
                    import os

                    os.environ["CUDA_VISIBLE_DEVICES"] = self.gpus[0]
                for chunk in numbered:
                    for number, overrides in chunk:
                        if INTERRUPTS.requested:  # Ctrl-C came between runs
                            raise KeyboardInterrupt
                        yield number, execute(self.ctx, number, overrides)
            else:
                if self.pool is None:
                    self.pool = WorkerPool(self.ctx, self.max_parallel, self.gpus)
                    atexit.register(self.close)
                yield from self.pool.run(self._packed(numbered))
        except KeyboardInterrupt:
            raise  # the handler stays: a second Ctrl-C while the sweep ends only sets the flag
        except BaseException:
            INTERRUPTS.restore()
            raise
        INTERRUPTS.restore()

    def _numbered(self, chunks: Iterable[List[List[str]]], first: int) -> Iterator[List[Tuple[int, List[str]]]]:
        """Each chunk with its runs numbered, logged as Hydra's basic launcher logs them."""
        from hydra.core.utils import filter_overrides

        number = first
        for chunk in chunks:
            # Workers start only for batches there are: never more than the chunk's batches.
            workers = min(self.max_parallel, -(-len(chunk) // self.runs_per_task))
            where = "in this process" if self.max_parallel == 1 else f"on {workers} worker{'s' * (workers > 1)}"
            log.info(f"Launching {len(chunk)} jobs locally {where}")
            numbered = [(number + offset, list(overrides)) for offset, overrides in enumerate(chunk)]
            for run_number, overrides in numbered:
                log.info(f"\t#{run_number} : {' '.join(filter_overrides(overrides))}")
            yield numbered
            number += len(chunk)

    def _packed(self, chunks: Iterator[List[Tuple[int, List[str]]]]) -> Iterator[List[Tuple[int, List[str]]]]:
        """Consecutive runs of a chunk packed ``runs_per_task`` at a time (one worker task each)."""
        size = self.runs_per_task
        for chunk in chunks:
            for start in range(0, len(chunk), size):
                yield chunk[start:start + size]

    def close(self) -> None:
        """Stop the workers (the hydraflow sweeper calls this when the sweep ends)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def terminate(self) -> None:
        """Stop the workers at once (Ctrl-C)."""
        if self.pool is not None:
            self.pool.terminate()
            self.pool = None
