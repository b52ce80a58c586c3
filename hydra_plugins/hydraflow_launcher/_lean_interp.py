"""The value of a string like ``${hydra.runtime.output_dir}/${hydra.job.name}.log`` without OmegaConf's parser.

Each run resolves a few such strings (its output subdirectory, its log file);
OmegaConf parses each with its ANTLR grammar every time (~0.3 ms). A string
made only of plain text and ``${hydra.KEY.PATH}`` interpolations resolves to
what OmegaConf's grammar gives it: one interpolation alone is the value it
names, as is; otherwise the text with ``str()`` of each value put in. Any
other string, or a value that is not plain, gives None: the caller lets
OmegaConf resolve it.
"""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig

_KEY = r"\$\{(hydra(?:\.[A-Za-z_][A-Za-z_0-9]*)+)\}"
_SIMPLE = re.compile(rf"(?:[^$\\{{}}]|{_KEY})*")
_INTERPOLATION = re.compile(_KEY)
_PLAIN = (str, int, float, bool, type(None))
MISSING = object()


def simple_value(config: DictConfig, text: str) -> Any:
    """What OmegaConf resolves ``text`` to in ``config`` (the root of the node holding it); MISSING where
    not sure."""
    if not _SIMPLE.fullmatch(text):
        return MISSING
    keys = _INTERPOLATION.findall(text)
    values = [_value(config, key) for key in keys]
    if any(v is MISSING for v in values):
        return MISSING
    if len(keys) == 1 and text == f"${{{keys[0]}}}":
        return values[0]
    parts = _INTERPOLATION.split(text)  # text, key, text, key, ..., text
    return "".join(part if i % 2 == 0 else str(values[i // 2]) for i, part in enumerate(parts))


def _value(config: DictConfig, key: str) -> Any:
    node: Any = config
    try:
        for part in key.split("."):
            node = node[part]
    except Exception:  # noqa: BLE001 - OmegaConf says why, in its own words
        return MISSING
    return node if isinstance(node, _PLAIN) else MISSING

