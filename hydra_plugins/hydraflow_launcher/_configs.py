"""The configs of a Slurm sweep's runs on the node path: written at submission, read on the node.

Where Hydra's value overrides can be applied to a composed template
(:data:`._compose.PRIVATE`), only each template (one per distinct set of
config-group choices) is written, once per attempt, with an index line per
run; the node applies each run's value overrides to its template itself, as
the launcher's composer does. So a sweep of 10k runs writes a few files, not
10k. Otherwise, and for a replay's runs (which write where they wrote
before), every run's whole config is written (``RUN.yaml``).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from hydraflow_core.executors import COMPLETED, CannotRunOnNode, FunctionWork, Options, create
from hydraflow_core.executors.saved import dump, load, resolvers
from hydraflow_core.manifest import append, json_line, read_lines, write_atomic
from hydraflow_core.plan import Run, Task, pack

from ._compose import PRIVATE, RunComposer, with_values
from ._runs import HydraRuns


#: Runs written per worker call; below twice this many, an array's configs are written here, one by one.
WRITE_CHUNK = 25
#: Most forked processes writing an array's configs (each composes and dumps: CPU-bound).
WRITERS = 8


#: The node folder's index of shared templates: a line per template (its key) and per run (its template).
TEMPLATES = "templates.jsonl"


@dataclass(frozen=True)
class ConfigWriter:
    """Writes what an array's tasks need to have their runs' configs on the node, with the sweep directory
    pinned. Where Hydra's value overrides can be applied to a composed template (:data:`._compose.PRIVATE`),
    only each template (one per distinct set of config-group choices) is written, once, and an index line
    per run: the node applies the run's value overrides itself. Otherwise, or for a replay's runs (which
    write where they wrote before), every run's whole config, on forked workers when there are many."""

    runs: HydraRuns
    sweep_dir: str
    directory: Path
    templates: Dict[Any, int] = field(default_factory=dict)  # template key -> its number, written once

    def write(self, tasks: Sequence[Task]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        runs = [run for task in tasks for run in task.runs]
        composer = self.runs.ctx.composer
        if PRIVATE is not None and not self.runs.ctx.subdirs and isinstance(composer, RunComposer):
            self.write_shared(composer, runs)
            return
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        workers = max(1, min(WRITERS, cpus, len(runs) // (2 * WRITE_CHUNK)))
        if workers == 1:
            for run in runs:
                self.write_run(run)
            return
        executor = create("local", FunctionWork(_Writing(self)), Options(max_parallel=workers))
        try:
            failed = [r for r in executor.stream(pack(runs, WRITE_CHUNK)) if r.state != COMPLETED]
        finally:
            executor.close()
        if executor.machine_error:
            raise OSError(executor.machine_error)
        if failed:
            error = failed[0].error or "a config could not be written"
            prefix = f"{CannotRunOnNode.__name__}: "
            if error.startswith(prefix):
                raise CannotRunOnNode(error[len(prefix):])
            raise RuntimeError(f"run #{failed[0].run.number}'s config could not be written: {error}")

    def write_shared(self, composer: RunComposer, runs: Sequence[Run]) -> None:
        lines = []
        for run in runs:
            key, _ = composer.split(run.overrides)
            number = self.templates.get(key)
            if number is None:
                number = self.templates[key] = len(self.templates)
                cfg = copy.deepcopy(composer._template(key))
                OmegaConf.copy_cache(from_config=composer.master, to_config=cfg)
                with read_write(cfg.hydra.sweep), open_dict(cfg.hydra.sweep):
                    cfg.hydra.sweep.dir = self.sweep_dir  # as a replay pins it: ${now:...} would be the node's time
                write_atomic(self.directory / f"template-{number}.yaml", dump(cfg))
                lines.append({"template": number, "key": list(key)})
            lines.append({"run": run.number, "template": number})
        append(self.directory / TEMPLATES, b"".join(json_line(line) for line in lines))

    def write_run(self, run: Run) -> None:
        # Dumped at once, so its hydra node need not be a copy (look_ahead: most of the cost), unless runs of a
        # replay write where they wrote before: a run's recorded subdir would stay in the shared node.
        cfg = self.runs._config(run, look_ahead=not self.runs.ctx.subdirs)
        with read_write(cfg.hydra.sweep), open_dict(cfg.hydra.sweep):
            cfg.hydra.sweep.dir = self.sweep_dir  # as a replay pins it: ${now:...} would be the node's time
        write_atomic(self.directory / f"{run.number}.yaml", dump(cfg))


class _Writing:
    """The run function of the config writers (failures come back as text: 'CannotRunOnNode: why')."""

    def __init__(self, writer: ConfigWriter) -> None:
        self.writer = writer

    def prepare(self, run: Run) -> Dict[str, Any]:
        return {}

    def execute(self, run: Run, prepared: Dict[str, Any]) -> Any:
        from hydraflow_core.executors import RunResult

        self.writer.write_run(run)
        return RunResult(run, COMPLETED)


class SavedConfigs:
    """The composer of a node's runs: each run's saved config (:meth:`compose_run`, as RunComposer has it)."""

    def __init__(self, configs: Dict[int, DictConfig]) -> None:
        self.configs = configs

    @classmethod
    def read(cls, directory: Path, runs: List[Run], main: Optional[Mapping[str, str]]) -> "SavedConfigs":
        """Every run's config, typed again: its own file, or its template with its value overrides applied;
        CannotRunOnNode for one that cannot be read or typed here."""
        configs: Dict[int, DictConfig] = {}
        shared: Optional[_Templates] = None
        for run in runs:
            path = directory / f"{run.number}.yaml"
            if not path.exists() and (directory / TEMPLATES).exists():
                shared = shared or _Templates(directory, main)
                configs[run.number] = shared.compose(run)
                continue
            configs[run.number] = _read(path, f"run #{run.number}'s config", main)
        return cls(configs)

    def compose_run(self, run: Run, look_ahead: bool = False) -> DictConfig:
        return self.configs[run.number]


def _read(path: Path, what: str, main: Optional[Mapping[str, str]]) -> DictConfig:
    try:
        text = path.read_text()
    except OSError as error:
        raise CannotRunOnNode(f"cannot read {what}: {error}") from None
    missing = [name for name in resolvers(text) if not OmegaConf.has_resolver(name)]
    if missing:
        raise CannotRunOnNode(f"{what} uses the resolver {missing[0]}, which importing the app does not register")
    return load(text, main)


class _Templates:
    """A node's shared templates (see :class:`ConfigWriter`): a run's config is its template with its value
    overrides applied, as the launcher's composer does."""

    def __init__(self, directory: Path, main: Optional[Mapping[str, str]]) -> None:
        if PRIVATE is None:
            raise CannotRunOnNode("this Hydra cannot apply a run's overrides to its template")
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.directory, self.main = directory, main
        self.parser = OverridesParser.create()
        self.keys: Dict[int, set] = {}
        self.of_run: Dict[int, int] = {}
        for line in read_lines(directory / TEMPLATES):
            if "run" in line:
                self.of_run[int(line["run"])] = int(line["template"])
            else:
                self.keys[int(line["template"])] = set(line["key"])
        self.loaded: Dict[int, DictConfig] = {}

    def compose(self, run: Run) -> DictConfig:
        number = self.of_run.get(run.number)
        if number is None:
            raise CannotRunOnNode(f"run #{run.number} has no saved config")
        if number not in self.loaded:
            self.loaded[number] = _read(self.directory / f"template-{number}.yaml", f"run #{run.number}'s config",
                                        self.main)
        template = self.loaded[number]
        missing = [name for name in resolvers("\n".join(run.overrides)) if not OmegaConf.has_resolver(name)]
        if missing:  # as for a whole config: its value overrides are part of it
            raise CannotRunOnNode(f"run #{run.number}'s config uses the resolver {missing[0]}, which importing the "
                                  f"app does not register")
        parsed = self.parser.parse_overrides(list(run.overrides))
        cfg = copy.deepcopy(template)
        OmegaConf.copy_cache(from_config=template, to_config=cfg)
        return with_values(cfg, parsed, [o for o in parsed if o.input_line not in self.keys[number]])
