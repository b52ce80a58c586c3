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
import signal
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job
from omegaconf import DictConfig, OmegaConf, open_dict

from ._compose import RunComposer
from ._interrupt import INTERRUPTS

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
        hydra_context=ctx.hydra_context, task_function=INTERRUPTS.guard(ctx.task_function), config=sweep_config,
        job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir",
    )
    configure_log(ctx.config.hydra.hydra_logging, ctx.config.hydra.verbose)
    result.log_path = _log_path(result)  # kept when the configs are dropped
    result.traceback_in_log = (result.status == JobStatus.FAILED and bool(result.log_path)
                               and _append_traceback(result.log_path, result._return_value))
    if not ctx.keep_configs:
        result.cfg = result.hydra_cfg = None
    return result


def _log_path(result: JobReturn) -> Optional[str]:
    return None if result.hydra_cfg is None else _log_file(result.hydra_cfg.hydra)


def _log_file(hydra: DictConfig) -> str:
    """Where a run's job logging writes (Hydra's default: <output dir>/<job name>.log)."""
    path = OmegaConf.select(hydra, "job_logging.handlers.file.filename", default=None)
    return str(path) if path else str(hydra.runtime.output_dir)


def _append_traceback(path: str, error: Any) -> bool:
    """Hydra keeps a failed run's exception in memory only; its log gets the traceback."""
    if not isinstance(error, BaseException):
        return False
    try:
        with open(path, "a") as log_file:
            traceback.print_exception(type(error), error, error.__traceback__, file=log_file)
    except OSError:
        return False
    return True


def _pickled(number: int, result: JobReturn) -> bytes:
    """``(number, result)`` pickled once; what cannot be pickled is replaced by its text."""
    try:
        return pickle.dumps((number, result))
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
        slim.traceback_in_log = getattr(result, "traceback_in_log", False)
        return pickle.dumps((number, slim))


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies (no orphaned workers)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - not Linux: the closed pipe still ends the worker
        pass


def _worker(conn: Connection, inherited: List[Connection], ctx: Context, gpu: Optional[str]) -> None:
    _die_with_parent()
    for other in inherited:  # the parent's pipe ends: keep none, so a dead parent means EOF here
        other.close()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    try:
        while not INTERRUPTS.requested:
            batch = conn.recv()  # Ctrl-C here only sets the flag: the parent then sends None
            if batch is None:
                return
            for number, overrides in batch:
                if INTERRUPTS.requested:
                    break
                # A task that returned is sent even after Ctrl-C: the handler raises only inside tasks.
                conn.send_bytes(_pickled(number, execute(ctx, number, overrides)))
            else:
                conn.send_bytes(b"")  # the batch is done
    except (EOFError, BrokenPipeError):
        return  # the parent is gone: leave quietly
    except KeyboardInterrupt:
        pass  # the task was interrupted
    raise SystemExit(INTERRUPTED)  # tells the parent: stopped by Ctrl-C, not crashed


def expected_log_path(ctx: Context, number: int, overrides: Sequence[str]) -> Optional[str]:
    """Where run ``number`` logs, worked out in the parent (for a run whose worker died)."""
    try:
        cfg = ctx.composer.compose(overrides)
        with open_dict(cfg.hydra):
            cfg.hydra.job.num = cfg.hydra.job.id = number
            cfg.hydra.runtime.output_dir = os.path.abspath(Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir))
        return _log_file(cfg.hydra)
    except Exception:
        return None


#: A worker's exit code when Ctrl-C stopped it.
INTERRUPTED = 130
#: Seconds the workers get after Ctrl-C to send what they finished and stop.
STOP_GRACE = 5.0
#: How often the dispatch loop looks at the Ctrl-C flag while waiting.
POLL = 0.1


class WorkerPool:
    """Up to ``size`` forked workers, each running one batch (a list of runs) at a time.

    A worker is started only when a batch is there for it: a sweep of 2
    batches with ``max_parallel=16`` forks 2 workers.
    """

    def __init__(self, ctx: Context, size: int, gpus: Sequence[str]) -> None:
        self.ctx = ctx
        self.gpus = list(gpus)
        self.fork = multiprocessing.get_context("fork")
        self.workers: List[Optional[Tuple[Any, Connection]]] = [None] * size

    def _start(self, slot: int) -> Tuple[Any, Connection]:
        parent, child = self.fork.Pipe()
        gpu = self.gpus[slot % len(self.gpus)] if self.gpus else None
        inherited = [w[1] for w in self.workers if w is not None] + [parent]
        process = self.fork.Process(target=_worker, args=(child, inherited, self.ctx, gpu),
                                    name=f"hydraflow-worker-{slot}")
        process.start()
        child.close()
        self.workers[slot] = (process, parent)
        return process, parent

    def run(self, batches: Iterable[List[Run]]) -> Iterator[Tuple[int, JobReturn]]:
        """Run every batch (pulled lazily); yield ``(run number, result)`` as runs finish.

        A worker that dies fails the run it was running; the rest of its batch
        goes back to the queue, and a new worker takes its place. After Ctrl-C
        the results the workers still send are yielded, then KeyboardInterrupt
        is raised.
        """
        source = iter(batches)
        requeued: List[List[Run]] = []
        busy: Dict[int, List[Run]] = {}  # slot -> runs of its batch not finished yet
        try:
            while not INTERRUPTS.requested:
                for slot in range(len(self.workers)):
                    if slot in busy:
                        continue
                    batch = requeued.pop() if requeued else next(source, None)
                    if batch is None:
                        break
                    worker = self.workers[slot]
                    if worker is None or not worker[0].is_alive():
                        worker = self._start(slot)
                    worker[1].send(batch)
                    busy[slot] = list(batch)
                if not busy:
                    return
                ready = wait([self.workers[s][1] for s in busy] + [self.workers[s][0].sentinel for s in busy],
                             timeout=POLL)
                for slot in list(busy):
                    yield from self._collect(slot, ready, busy, requeued)
            yield from self._drain(busy)
            raise KeyboardInterrupt
        except BaseException:
            self.terminate()  # Ctrl-C or a crash in the parent: stop every worker now
            raise

    def _drain(self, busy: Dict[int, List[Run]]) -> Iterator[Tuple[int, JobReturn]]:
        """After Ctrl-C: every result the workers still send, until they have all stopped."""
        live = {}
        for slot, worker in enumerate(self.workers):
            if worker is None:
                continue
            live[slot] = worker
            with contextlib.suppress(OSError):
                if slot in busy:
                    os.kill(worker[0].pid, signal.SIGINT)  # stops its task (a Ctrl-C reached it already)
                else:
                    worker[1].send(None)
        deadline = time.monotonic() + STOP_GRACE
        while live and time.monotonic() < deadline:
            wait([w[1] for w in live.values()], timeout=max(0.0, deadline - time.monotonic()))
            for slot, (process, conn) in list(live.items()):
                try:
                    while conn.poll():
                        message = conn.recv_bytes()
                        if message:
                            yield pickle.loads(message)
                        else:
                            conn.send(None)  # its batch is done: stop it
                except (EOFError, OSError):
                    del live[slot]  # it has stopped and everything it sent was read

    def _collect(self, slot, ready, busy, requeued) -> Iterator[Tuple[int, JobReturn]]:
        process, conn = self.workers[slot]
        try:
            while conn in ready and conn.poll():
                message = conn.recv_bytes()
                if not message:
                    del busy[slot]
                    return
                number, result = pickle.loads(message)
                busy[slot] = [r for r in busy[slot] if r[0] != number]
                yield number, result
        except (EOFError, OSError):
            pass
        if slot in busy and not process.is_alive():
            process.join()
            if process.exitcode == INTERRUPTED:  # Ctrl-C reached it (the parent's flag may come a moment later)
                INTERRUPTS.requested = True
                busy.pop(slot)
                return
            (number, overrides), *rest = busy.pop(slot)
            error = RuntimeError(f"the worker running #{number} died (exit code {process.exitcode})")
            log.error(str(error))
            dead = JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=error)
            dead.log_path = expected_log_path(self.ctx, number, overrides)
            if rest:
                requeued.append(rest)
            self._start(slot)
            yield number, dead

    def terminate(self) -> None:
        for slot, worker in enumerate(self.workers):
            if worker is not None:
                worker[0].kill()
                worker[0].join()
                worker[1].close()
                self.workers[slot] = None

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
