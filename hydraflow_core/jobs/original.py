"""The original HydraFlow's job schema (0.23): ``sets`` of ``each`` / ``all`` / ``add``, read onto steps.

A job is written in one schema, hydraflow's (``steps``, ``with``) or HydraFlow
0.23's (``sets``, ``add``); its first key of either decides. A 0.23 job is read
onto the same :class:`~hydraflow_core.jobs.model.Step` a ``steps`` job gives,
as 0.23 runs it: every set is its own step (0.23 merges no list items),
``each`` is ``batch``, ``all`` is ``args``, and a set's ``add`` is merged over
the job's key by key, the set's value winning, as ``with`` is. 0.23 hands a
``call`` function and a ``submit`` file's lines ``--multirun`` before the
batch's arguments (a ``call`` also gets its own words first): that is the
job's ``lead``.

A mixin of :class:`~hydraflow_core.jobs.check.Checker`, which gives ``mapping``,
``overrides``, ``tagged`` and ``problem``.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import yaml

from hydraflow_core.jobs.model import KINDS, Step
from hydraflow_core.jobs.yaml_nodes import NULL_TAG, describe

JOB_KEYS = (*KINDS, "add", "max_parallel", "timeout_min", "sets", "slurm")
SET_KEYS = ("each", "all", "add")
#: A set's key -> the step field it fills (and the check that field gets).
STEP_FIELD = {"each": "batch", "all": "args", "add": "with"}
#: What 0.23 puts before a batch's arguments for a call function or in a submit file's line.
MULTIRUN = "--multirun"
OURS, THEIRS = "hydraflow's", "HydraFlow 0.23's"
_SETS_AS_STEPS = "write each set as a step (each -> batch, all -> args, add -> with)"
_STEPS_AS_SETS = "write each step as a set (batch -> each, args -> all, with -> add)"
_NO_SUCH_IN_A_SET = "a set has none; write the job with steps (each -> batch, all -> args, add -> with)"
#: (schema, where, foreign key) -> what to write instead; where is "job" or "item" (a step or a set).
_INSTEAD = {
    ("steps", "job", "sets"): _SETS_AS_STEPS, ("steps", "job", "add"): "write 'with'",
    ("sets", "job", "steps"): _STEPS_AS_SETS, ("sets", "job", "with"): "write 'add'",
    ("steps", "item", "each"): "write 'batch'", ("steps", "item", "all"): "write 'args'",
    ("steps", "item", "add"): "write 'with'",
    ("sets", "item", "batch"): "write 'each'", ("sets", "item", "args"): "write 'all'",
    ("sets", "item", "with"): "write 'add'", ("sets", "item", "zip"): _NO_SUCH_IN_A_SET,
    ("sets", "item", "slurm"): _NO_SUCH_IN_A_SET,
}


def schema_of(names: List[str]) -> Optional[str]:
    """``"steps"`` or ``"sets"`` by the first of a job's keys that only one schema has; None if none."""
    for name in names:
        if name in ("steps", "with"):
            return "steps"
        if name in ("sets", "add"):
            return "sets"
    return None


def foreign_keys(schema: str, where: str, decided_by: str, line: int) -> Dict[str, str]:
    """The other schema's keys at ``where`` ("job" or "item"), each with its one-line problem."""
    mine, other = (OURS, THEIRS) if schema == "steps" else (THEIRS, OURS)
    return {key: (f"'{key}' is {other} schema, and this job is in {mine} ('{decided_by}', line {line}); "
                  f"a job uses one: {instead}")
            for (s, w, key), instead in _INSTEAD.items() if s == schema and w == where}


class OriginalChecks:
    def sets(self, pair, key: str, decided_by: str, line: int) -> Optional[List[Tuple[Step, Dict[str, yaml.Node]]]]:
        """Each set as its own step, with the value node of each step field it fills."""
        if pair is None:
            return [(Step(), {})]
        node = pair[1]
        if self.tagged(node, key):
            return None
        if node.tag == NULL_TAG or isinstance(node, yaml.SequenceNode) and not node.value:
            return [(Step(), {})]  # 0.23 ran nothing; a job without a batch runs once
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, key, f"expected a list of sets, got {describe(node)}")
            return None
        foreign = foreign_keys("sets", "item", decided_by, line)
        steps = []
        ok = True
        for index, item in enumerate(node.value):
            where = f"{key}[{index}]"
            values, nodes = {}, {}
            for name, (_, value_node) in self.mapping(item, where, SET_KEYS, foreign).items():
                field = STEP_FIELD[name]
                values[field] = self.overrides((None, value_node), f"{where}.{name}", check=field, named=name)
                nodes[field] = value_node
                ok = ok and values[field] is not None
            if ok:
                steps.append((Step(values.get("batch", ()), args=values.get("args", ()),
                                   with_=values.get("with", ())), nodes))
        return steps if ok else None

    def call_words(self, node: yaml.Node, key: str, target: str) -> Optional[Tuple[str, Tuple[str, ...]]]:
        """``module.function extra words`` of a 0.23 ``call``: the function, and the words it gets first."""
        words = self.words(node, key, target)
        if words is None:
            return None
        if not words:
            self.problem(node, key, "expected module.function, e.g. launch.sweep")
            return None
        return words[0], (*words[1:], MULTIRUN)
