"""`hydra/sweeper=hydraflow`: the extended sweep syntax for Hydra multiruns.

Hydra imports this module at start-up: the heavy parts are imported lazily.
"""

from typing import Any, Dict, List, Optional

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class HydraflowSweeper(Sweeper):
    def __init__(self, params: Optional[Dict[str, Any]] = None, job: Optional[str] = None,
                 file: Optional[str] = None, max_batch_size: Optional[int] = None) -> None:
        # Also built from BasicSweeper's fields (params, max_batch_size) when the
        # launcher's callback swaps sweepers: every field has a default.
        self.params = dict(params or {})
        self.job = job
        self.file = file
        self.max_batch_size = max_batch_size

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: List[str]) -> Any:
        from ._sweep import run_sweep

        return run_sweep(self, arguments)
