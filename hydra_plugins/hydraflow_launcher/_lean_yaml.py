"""``.hydra/hydra.yaml`` and ``overrides.yaml`` for the lean run path, byte for byte as Hydra writes them.

Hydra's ``run_job`` writes ``OmegaConf.to_yaml(hydra_cfg)``: ~150 lines,
~4 ms, nearly the same for every run of a sweep. Runs that share a template
(one hydra node as composed: the same hydra overrides and config-group
choices) differ only in the per-run fields of :data:`SLOTS`. So the first
run of a template dumps it once more with a sentinel in each slot
(:class:`HydraYaml`), and every run's text is that dump with each sentinel's
lines replaced by the lines of the run's value. A value's lines are what
OmegaConf's dumper writes for it at that place (:func:`block`): a YAML block
mapping's entry does not depend on its siblings. The first run's text is
compared with the full dump; if it differs, that template's runs are dumped
in full.
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

#: The hydra node's fields set for each run (hydraflow's composer, Hydra's run_job), as (group, key).
SLOTS: Tuple[Tuple[str, str], ...] = (
    ("sweep", "subdir"), ("overrides", "task"), ("job", "override_dirname"), ("job", "id"), ("job", "num"),
    ("runtime", "output_dir"))
_INT_SENTINEL = 7_391_046_825_000
# A string OmegaConf's dumper writes as is (plain): no YAML type looks like it (it has a '/' or '='),
# nothing in it is special to YAML, and without a space no line is folded.
_PLAIN = re.compile(r"[A-Za-z0-9_/+~][A-Za-z0-9_./=,+~@%-]*")
_DIGITS = re.compile(r"[0-9]+")
_BLOCKS_KEPT = 512


def _plain(value: Any) -> bool:
    return type(value) is str and _PLAIN.fullmatch(value) is not None and ("/" in value or "=" in value)


class _Writer:
    """Each value's lines at a slot (cached; the common shapes written directly once checked)."""

    def __init__(self) -> None:
        self.cache: "OrderedDict[Tuple[Any, ...], Optional[str]]" = OrderedDict()
        self.checked: Dict[str, bool] = {}  # shape -> its direct form equals the dumper's

    def block(self, slot: Tuple[str, str], value: Any) -> Optional[str]:
        """The lines ``hydra.<group>.<key>: value`` takes in a dumped hydra node; None if not sure."""
        group, key = slot
        shape = _shape(value)
        if shape is not None and self.checked.get(shape, True):
            direct = _direct(key, value, "    ")
            if shape in self.checked:
                return direct
            self.checked[shape] = direct == _dumped(slot, value)
            if self.checked[shape]:
                return direct
        cache_key = (slot, tuple(value) if isinstance(value, list) else value, type(value))
        if cache_key not in self.cache:
            if len(self.cache) >= _BLOCKS_KEPT:
                self.cache.popitem(last=False)
            self.cache[cache_key] = _dumped(slot, value)
        return self.cache[cache_key]

    def overrides(self, task: List[Any], node: Any) -> str:
        """``overrides.yaml``: ``OmegaConf.to_yaml`` of the run's ``hydra.overrides.task`` (``node``)."""
        if task and all(_plain(o) for o in task) and self.checked.get("overrides", True):
            direct = "".join(f"- {o}\n" for o in task)
            if "overrides" not in self.checked:
                self.checked["overrides"] = direct == OmegaConf.to_yaml(node)
            if self.checked["overrides"]:
                return direct
        return OmegaConf.to_yaml(node)


def _shape(value: Any) -> Optional[str]:
    if type(value) is int:
        return "int"
    if _plain(value):
        return "plain"
    if type(value) is str and _DIGITS.fullmatch(value):
        return "digits"  # quoted: OmegaConf's dumper keeps a string that reads as a number a string
    if type(value) is list and value and all(_plain(v) for v in value):
        return "list"
    return None


def _direct(key: str, value: Any, indent: str) -> str:
    if type(value) is list:
        return f"{indent}{key}:\n" + "".join(f"{indent}- {v}\n" for v in value)
    if type(value) is str and _DIGITS.fullmatch(value):
        return f"{indent}{key}: '{value}'\n"
    return f"{indent}{key}: {value}\n"


def _dumped(slot: Tuple[str, str], value: Any) -> Optional[str]:
    """The lines of ``value`` at ``slot``, from OmegaConf's dumper itself (a document of that slot alone)."""
    group, key = slot
    head = f"hydra:\n  {group}:\n"
    try:
        text = OmegaConf.to_yaml({"hydra": {group: {key: value}}})
    except Exception:  # noqa: BLE001 - a value OmegaConf cannot take alone: dump the whole node
        return None
    return text[len(head):] if text.startswith(head) else None


_WRITER = _Writer()


def slot_values(hydra: DictConfig) -> Optional[List[Any]]:
    """The run's value in each slot, as to_yaml writes it (not resolved); None where one is not simple."""
    values = []
    for group, key in SLOTS:
        parent = hydra._get_node(group)
        node = parent._get_node(key) if isinstance(parent, DictConfig) else None
        if node is None:
            values.append(None)
            continue
        if OmegaConf.is_list(node):
            value = OmegaConf.to_container(node, resolve=False) if not node._is_missing() else None
            ok = isinstance(value, list) and all(type(v) is str and "???" not in v for v in value)
        else:
            value = node._value()
            ok = type(value) is int or (type(value) is str and "???" not in value)
        if not ok:
            return None
        values.append(value)
    return values


class HydraYaml:
    """One template's hydra.yaml: the text between the slots, or None (dumped in full for each run)."""

    def __init__(self) -> None:
        self.pieces: Optional[List[str]] = None
        self.order: List[int] = []
        self.built = False

    def text(self, hydra_cfg: DictConfig, values: Optional[Sequence[Any]]) -> str:
        """The run's hydra.yaml: ``hydra_cfg`` is its hydra config (``{hydra: node}``), ``values`` its slots."""
        if values is not None and self.pieces is not None:
            filled = self._fill(values)
            if filled is not None:
                return filled
        full = OmegaConf.to_yaml(hydra_cfg)
        if values is not None and not self.built:
            self.built = True
            self._build(hydra_cfg, values)
            if self.pieces is not None and self._fill(values) != full:
                self.pieces = None  # not what the dumper writes: this template's runs are dumped in full
        return full

    def _fill(self, values: Sequence[Any]) -> Optional[str]:
        pieces = self.pieces
        assert pieces is not None
        parts = [pieces[0]]
        for n, index in enumerate(self.order):
            block = _WRITER.block(SLOTS[index], values[index])
            if block is None:
                return None
            parts.append(block)
            parts.append(pieces[n + 1])
        return "".join(parts)

    def _build(self, hydra_cfg: DictConfig, values: Sequence[Any]) -> None:
        marked = copy.deepcopy(hydra_cfg)
        sentinels: Dict[int, Any] = {}
        try:
            with read_write(marked.hydra), open_dict(marked.hydra):
                for index, (group, key) in enumerate(SLOTS):
                    if values[index] is None:
                        continue
                    sentinel: Any = f"/hydraflow-lean-slot-{index}"
                    if type(values[index]) is int:
                        sentinel = _INT_SENTINEL + index
                    elif type(values[index]) is list:
                        sentinel = [sentinel]
                    marked.hydra[group][key] = sentinel
                    sentinels[index] = sentinel
            text = OmegaConf.to_yaml(marked)
        except Exception:  # noqa: BLE001 - a slot that takes no sentinel: dumped in full
            return
        found = []
        for index, sentinel in sentinels.items():
            block = _WRITER.block(SLOTS[index], sentinel)
            at = text.find(block) if block else -1
            if at < 0 or text.count(block) != 1 or (at > 0 and text[at - 1] != "\n"):
                return
            found.append((at, index, len(block)))
        found.sort()
        pieces, start = [], 0
        for at, index, length in found:
            pieces.append(text[start:at])
            start = at + length
        pieces.append(text[start:])
        self.pieces, self.order = pieces, [index for _, index, _ in found]


def overrides_yaml(task: List[Any], node: Any) -> str:
    return _WRITER.overrides(task, node)
