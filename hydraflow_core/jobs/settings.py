"""The checks of a job's settings in ``hydraflow.yaml`` (``slurm:``, ``timeout_min``, ``max_parallel``).

A mixin of :class:`~hydraflow_core.jobs.check.Checker`, which gives ``problem`` and ``tagged``.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

import yaml

from hydraflow_core.jobs.yaml_nodes import describe, plain_value


class SettingChecks:
    def slurm(self, pair, key: str) -> Optional[Dict[str, Any]]:
        """A ``slurm:`` mapping: hydra.launcher.slurm.* fields, values read as YAML reads them."""
        from hydraflow_core.executors.slurm.fields import problems as slurm_problems
        from hydraflow_core.executors.slurm.resources import interpolated_fields

        if pair is None:
            return {}
        node = pair[1]
        if self.tagged(node, key):
            return None
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, key, f"expected a mapping of Slurm settings (partition: ..., cpus_per_task: ...), "
                         f"got {describe(node)}")
            return None
        settings: Dict[str, Any] = {}
        ok = True
        for key_node, value_node in node.value:
            name = key_node.value
            value = plain_value(value_node)
            if interpolated_fields({name: value}):  # ${key}: each batch's own value, checked per batch
                settings[name] = value
                continue
            for problem in slurm_problems({name: value}):
                self.problem(key_node, f"{key}.{name}", problem.split(": ", 1)[1] if problem.startswith("slurm.")
                             and ": " in problem else problem)
                ok = False
            settings[name] = value
        return settings if ok else None

    def timeout_min(self, pair, key: str) -> Optional[float]:
        """Minutes a batch may run: a positive number (null: no limit)."""
        value = None if pair is None or self.tagged(pair[1], key) else plain_value(pair[1])
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
            self.problem(pair[1], key, f"expected a positive number of minutes (e.g. 30 or 0.5), got "
                         f"{describe(pair[1])}")
            return None
        return None if value is None else float(value)

    def max_parallel(self, pair, key: str) -> Optional[int]:
        if pair is None:
            return None
        node = pair[1]
        if self.tagged(node, key):
            return None
        if not (isinstance(node, yaml.ScalarNode) and re.fullmatch(r"[0-9]+", node.value)
                and int(node.value) >= 1):
            self.problem(node, key, f"expected a whole number of at least 1, got {describe(node)}")
            return None
        return int(node.value)
