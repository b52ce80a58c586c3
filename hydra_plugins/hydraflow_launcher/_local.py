"""The local backend: runs in this process, or in N long-lived worker processes.

Workers are forked once, after Hydra has set everything up, so nothing is
pickled on the way in (no task function, no config loader, no singletons):
each worker composes and runs the batches sent to it, and sends back one
small result per run as soon as it finishes. A worker that dies fails only
the runs it had not finished; a new one takes its place.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job
from omegaconf import DictConfig, OmegaConf, open_dict

from ._compose import RunComposer

log = logging.getLogger(__name__)

Run = Tuple[int, Sequence[str]]  # (run number, overrides)


@dataclass
class Context:
    """Everything a run needs; inherited by forked workers, never pickled."""

    hydra_context: Any
    task_function: Callable
    config: DictConfig
    composer: RunComposer
    keep_configs: bool = True


def execute(ctx: Context, number: int, overrides: Sequence[str]) -> JobReturn:
    """Compose one run's config (once) and run it as Hydra's basic launcher does."""
    try:
        sweep_config = ctx.composer.compose(overrides)
    except Exception as error:  # a run that cannot be composed fails alone
        log.error(f"#{number} cannot be composed: {error}")
        return JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=error,
                         working_dir=None, task_name=None)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = number
        sweep_config.hydra.job.num = number
    result = run_job(
        hydra_context=ctx.hydra_context, task_function=ctx.task_function, config=sweep_config,
        job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir",
    )
    configure_log(ctx.config.hydra.hydra_logging, ctx.config.hydra.verbose)
    result.log_path = _log_path(result)  # kept when the configs are dropped
    if result.status == JobStatus.FAILED and result.log_path:
        _append_traceback(result.log_path, result._return_value)
    if not ctx.keep_configs:
        result.cfg = result.hydra_cfg = None
    return result


def _log_path(result: JobReturn) -> Optional[str]:
    """Where the run's job logging wrote (Hydra's default: <output dir>/<job name>.log)."""
    if result.hydra_cfg is None:
        return None
    hydra = result.hydra_cfg.hydra
    path = OmegaConf.select(hydra, "job_logging.handlers.file.filename", default=None)
    return str(path) if path else str(hydra.runtime.output_dir)


def _append_traceback(path: str, error: Any) -> None:
    """Hydra keeps a failed run's exception in memory only; its log gets the traceback."""
    if isinstance(error, BaseException):
        with contextlib.suppress(OSError), open(path, "a") as log_file:
            traceback.print_exception(type(error), error, error.__traceback__, file=log_file)


def _portable(result: JobReturn) -> JobReturn:
    """``result`` as it can cross a pipe: what cannot be pickled is replaced by its text."""
    try:
        pickle.dumps(result)
        return result
    except Exception:
        value = result._return_value
        if isinstance(value, BaseException):
            value = RuntimeError(f"{type(value).__name__}: {value}")
        else:
            value = repr(value)
        slim = JobReturn(overrides=result.overrides, cfg=None, hydra_cfg=None,
                         working_dir=result.working_dir, task_name=result.task_name,
                         status=result.status, _return_value=value)
        slim.log_path = getattr(result, "log_path", None)
        return slim


def _worker(conn: Connection, ctx: Context, gpu: Optional[str]) -> None:
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    while True:
        try:
            batch = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if batch is None:
            return
        for number, overrides in batch:
            conn.send((number, _portable(execute(ctx, number, overrides))))
        conn.send(None)  # the batch is done


class WorkerPool:
    """``size`` forked workers, each running one batch (a list of runs) at a time."""

    def __init__(self, ctx: Context, size: int, gpus: Sequence[str]) -> None:
        self.ctx = ctx
        self.gpus = list(gpus)
        self.fork = multiprocessing.get_context("fork")
        self.workers: List[Optional[Tuple[Any, Connection]]] = [None] * size

    def _start(self, slot: int) -> Tuple[Any, Connection]:
        parent, child = self.fork.Pipe()
        gpu = self.gpus[slot % len(self.gpus)] if self.gpus else None
        process = self.fork.Process(target=_worker, args=(child, self.ctx, gpu), name=f"hydraflow-worker-{slot}")
        process.start()
        child.close()
        self.workers[slot] = (process, parent)
        return process, parent

    def run(self, batches: List[List[Run]]) -> Dict[int, JobReturn]:
        """Run every batch; results by run number (dead workers' unfinished runs FAILED)."""
        results: Dict[int, JobReturn] = {}
        pending = list(reversed(batches))
        busy: Dict[int, List[Run]] = {}  # slot -> runs not finished yet
        for slot in range(len(self.workers)):
            if self.workers[slot] is None or not self.workers[slot][0].is_alive():
                self._start(slot)
        while pending or busy:
            for slot, worker in enumerate(self.workers):
                if slot not in busy and pending:
                    batch = pending.pop()
                    worker[1].send(batch)
                    busy[slot] = list(batch)
            ready = wait([self.workers[s][1] for s in busy] + [self.workers[s][0].sentinel for s in busy])
            for slot in list(busy):
                process, conn = self.workers[slot]
                try:
                    while conn in ready and conn.poll():
                        message = conn.recv()
                        if message is None:
                            del busy[slot]
                            break
                        number, result = message
                        results[number] = result
                        busy[slot] = [r for r in busy[slot] if r[0] != number]
                except (EOFError, OSError):
                    pass
                if slot in busy and not process.is_alive():
                    process.join()
                    for number, overrides in busy.pop(slot):
                        error = RuntimeError(f"the worker running #{number} died (exit code {process.exitcode})")
                        log.error(str(error))
                        results[number] = JobReturn(overrides=list(overrides), status=JobStatus.FAILED,
                                                    _return_value=error)
                    self._start(slot)
        return results

    def close(self) -> None:
        for slot, worker in enumerate(self.workers):
            if worker is None:
                continue
            process, conn = worker
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
            self.workers[slot] = None
