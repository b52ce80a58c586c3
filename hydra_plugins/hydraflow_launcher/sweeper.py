"""`hydra/sweeper=hydraflow`: the extended sweep syntax for Hydra multiruns.

Hydra imports this module at start-up: the heavy parts are imported lazily.
"""

import os
import sys
from typing import Any, Dict, List, Optional

from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

FIELDS = ("params", "job", "file", "max_batch_size")


class SweeperSettingsError(CompactHydraException):
    """Bad hydra.sweeper.* values: Hydra prints the message alone."""


class HydraflowSweeper(Sweeper):
    def __init__(self, params: Optional[Dict[str, Any]] = None, job: Optional[str] = None,
                 file: Optional[str] = None, max_batch_size: Optional[int] = None, **unknown: Any) -> None:
        # Also built from BasicSweeper's fields (params, max_batch_size) when the
        # launcher's callback swaps sweepers: every field has a default. Checked in
        # setup(): an error raised here would reach the user wrapped by Hydra's instantiate.
        self.raw_params = params
        self.params = dict(params) if OmegaConf.is_dict(params) or isinstance(params, dict) else {}
        self.job = job
        self.file = file
        self.max_batch_size = max_batch_size
        self.unknown = unknown

    def check_settings(self) -> None:
        """Every bad hydra.sweeper.* value in one message (what is valid included)."""
        problems = []
        if self.unknown and not os.environ.get("HYDRAFLOW_REPLAY"):  # a replay ignores another sweeper's settings
            from hydraflow_core.errors import did_you_mean

            problems.extend(f"{name}: unknown field{did_you_mean(name, FIELDS)}; valid fields: {', '.join(FIELDS)}"
                            for name in sorted(self.unknown))
        if self.raw_params is not None and not (OmegaConf.is_dict(self.raw_params) or isinstance(self.raw_params, dict)):
            problems.append(f"params must be a mapping of key: sweep, not {self.raw_params!r}")
        for name in ("job", "file"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                problems.append(f"{name} must be a name (text) or null, not {value!r}")
        size = self.max_batch_size
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            # Hydra's BasicSweeper has no meaning for -1 or 0 either (it asserts max_batch_size > 0).
            problems.append(f"max_batch_size must be a whole number of at least 1, or null (the default: each "
                            f"batch group streamed 1000 runs at a time), not {size!r}")
        if problems:
            raise SweeperSettingsError("\n".join(f"hydra.sweeper: {p}" for p in problems))

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from hydraflow_core.cli.stdout import guard_stdout

        self.check_settings()
        guard_stdout(str(config.hydra.sweep.dir))  # with any launcher: a closed stdout is not an error storm
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: List[str]) -> Any:
        from hydraflow_core.cli.stdout import release_stdout
        from ._sweep import run_sweep

        try:
            return run_sweep(self, arguments)
        except OSError as error:  # the sweep directory cannot be written, a full disk: one line, no traceback
            from hydraflow_core.cli.writable import EXIT_CANNOT_WRITE, cannot_write
            from hydraflow_core.executors.local.runone import machine_error

            problem, code = cannot_write(error, str(self.config.hydra.sweep.dir)), EXIT_CANNOT_WRITE
            if problem is None:
                problem, code = machine_error(error), 1
            if problem is None:
                raise
            sys.stderr.write(f"hydraflow: error: {problem}\n")
            raise SystemExit(code) from None
        finally:
            release_stdout()
