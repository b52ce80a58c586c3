"""What people see while a job runs: progress, then a summary table (rich, at the edge only)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hydraflow_core.cli.run import BatchResult
from hydraflow_core.executors import COMPLETED, FAILED
from hydraflow_core.manifest import TIMED_OUT
from hydraflow_core.jobs.batches import Batch

_STYLE = {COMPLETED: "green", FAILED: "bold red", TIMED_OUT: "bold red"}
_TAIL_LINES = 8


class ProgressDisplay:
    """Events sink: a live bar on a terminal, one line per finished batch elsewhere."""

    def __init__(self, console: Console, total: int, title: str) -> None:
        self.console = console
        self.total = total
        self.done = 0
        self.progress: Optional[Progress] = None
        if console.is_terminal:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=console, transient=True,
                # A `call` batch's print() must reach its log (fds 1 and 2), not the bar.
                redirect_stdout=False, redirect_stderr=False,
            )
            self.task = self.progress.add_task(title, total=total)

    def __enter__(self) -> "ProgressDisplay":
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def started(self, batch: Batch) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=f"running {batch.name}")

    def finished(self, result: BatchResult) -> None:
        self.done += 1
        style = _STYLE.get(result.state, "yellow")
        self.console.print(
            f"[{self.done}/{self.total}] [{style}]{result.state}[/] {result.name} ({result.duration:.1f}s)",
            highlight=False,
        )
        if self.progress is not None:
            self.progress.advance(self.task)


def print_summary(
    console: Console, results: List[BatchResult], directory: Path, run_dir: str, shown_run_dir: str
) -> None:
    """The table of every batch (logs relative to the run directory), counts, failed logs' tails."""
    console.print(f"[bold]summary of {shown_run_dir}[/]", highlight=False)
    table = Table()
    table.add_column("batch", no_wrap=True, overflow="ellipsis", max_width=36)
    for column in ("state", "exit code", "duration"):
        table.add_column(column, no_wrap=True)
    table.add_column("log", overflow="fold")
    for r in results:
        style = _STYLE.get(r.state, "yellow")
        code = "" if r.returncode is None else str(r.returncode)
        duration = f"{r.duration:.1f}s" if r.log else ""
        table.add_row(r.name, f"[{style}]{r.state}[/]", code, duration, _relative(r.log, run_dir))
    console.print(table)
    counts: dict = {}
    for r in results:
        counts[r.state] = counts.get(r.state, 0) + 1
    console.print(", ".join(f"{n} {state}" for state, n in counts.items()), highlight=False)
    for r in results:
        if r.state in (FAILED, TIMED_OUT) and r.log:
            lines = (directory / r.log).read_text(errors="replace").splitlines()[-_TAIL_LINES:]
            said = r.error if r.state == TIMED_OUT else "failed"
            console.print(f"\n[bold red]{r.name}[/] {said}; the end of its log:", highlight=False)
            console.print("\n".join("    " + line for line in lines), markup=False, highlight=False)


def _relative(log: Optional[str], run_dir: str) -> str:
    if not log:
        return ""
    prefix = run_dir.rstrip("/") + "/"
    return log[len(prefix):] if log.startswith(prefix) else log
