"""Why something went wrong, in words: composition errors with Hydra's cause and
a hydraflow hint, and where a YAML base-60 number was written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, List, Optional, Tuple

# Values Hydra reads as text that the extended syntax would have expanded.
_EXTENDED = re.compile(r"[:|]|^[-+]?[0-9.]+[a-zA-Z]$|^\(")
# A number with an SI letter (`10m`): text outside a range, `N:S` or `KEY/S`.
_LETTERED = re.compile(r"([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([fpnumkMGT])")
# 'Error merging override KEY=VALUE' (Hydra's ConfigCompositionException).
_MERGING = re.compile(r"Error merging override (\S+?)=(.*)$", re.M)
_MISSING_OPTION = re.compile(r"Could not find '([^']+)/([^']+)'")
# How many config files are read to find where a base-60 number was written.
_FILES_READ = 2000


def composition_reason(error: BaseException) -> str:
    """Hydra's message and every cause under it (as Hydra's basic sweeper shows), then a hint."""
    lines = _messages(error)
    hint = composition_hint(error)
    return "\n".join(lines + ([f"hint: {hint}"] if hint else []))


def reason_line(error: BaseException) -> str:
    """:func:`composition_reason` in one line, without the hint: each message's first line, joined by ': ',
    its other lines in parentheses (``Error merging override lr=10m: Value '10m' of type 'str' could not be
    converted to Float (full_key: lr, object_type=Config)``)."""
    parts = []
    for message in _messages(error):
        first, *rest = [line.strip() for line in message.splitlines() if line.strip()] or [message]
        parts.append(first + (f" ({', '.join(rest)})" if rest else ""))
    return ": ".join(parts)


def composition_hint(error: BaseException) -> Optional[str]:
    """What would work instead, for a composition error hydraflow knows (None for the others)."""
    return _hint("\n".join(_messages(error)))


def _messages(error: BaseException) -> List[str]:
    """The message of ``error`` and of each cause under it, outermost first (each once)."""
    lines: List[str] = []
    seen = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).strip() or type(current).__name__
        if text not in lines:
            lines.append(text)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return lines


def _hint(message: str) -> Optional[str]:
    merging = _MERGING.search(message)
    if merging and "could not be converted" in message:
        key, value = merging.group(1).lstrip("+~"), merging.group(2)
        lettered = _LETTERED.fullmatch(value.strip("'\""))
        if lettered:  # `lr=1m,3m`: written as a sweep already, and hydraflow sweep reads 1m as text too
            number, letter = lettered.groups()
            return (f"'{key}' is typed, and {value} is text (an SI letter scales only a range, N:S or KEY/S): "
                    f"write {number}:{letter} for this one value, or {key}/{letter}={number},... to scale every "
                    f"value of the list by {letter} (README: SI letters)")
        if _EXTENDED.search(value):
            plain = value.replace("\\", "").strip("'\"")
            return (f"'{key}' is typed and {plain} reached it as text (quoted, escaped, or inside a Hydra "
                    f"function); to sweep {plain}, use hydraflow sweep -- COMMAND {key}={plain} ..., or put it "
                    f"in hydra.sweeper.params (+hydra.sweeper.params.{key}={plain} with hydra/sweeper=hydraflow) "
                    f"or in a job definition, or write it unquoted beside another value ({key}={plain},OTHER) "
                    f"(README: The typed-config rule)")
        if "to Integer" in message and re.fullmatch(r"[-+]?[0-9]+\.0*", value):
            return f"'{key}' is an int: write whole numbers without a point ({value.split('.')[0]}, not {value})"
        return None
    missing = _MISSING_OPTION.search(message)
    if missing and _EXTENDED.search(missing.group(2)):
        group = missing.group(1)
        return (f"'{group}' is a config group: a value Hydra reads as one text is not a sweep of its "
                f"options; write {group}=a,b, or use hydraflow sweep -- COMMAND ARGS or a job definition "
                f"(README: The typed-config rule)")
    return None


def base60_source(config: Any, key: str, value: int) -> Optional[Tuple[str, str]]:
    """``(file, text)`` where ``key: a:b`` is written unquoted and YAML 1.1 read it as ``value``, else None.

    Only the config files of the app's file config sources are read (the
    primary config and its groups): an ordinary count such as ``epochs: 100``
    is never reported.
    """
    name = re.escape(key.rsplit(".", 1)[-1])
    pattern = re.compile(rf"^\s*['\"]?{name}['\"]?\s*:\s*([0-9][0-9_]*(?::[0-5]?[0-9])+)\s*(?:#.*)?$", re.M)
    read = 0
    for root in _file_sources(config):
        for path in sorted(root.rglob("*.yaml")) + sorted(root.rglob("*.yml")):
            read += 1
            if read > _FILES_READ:
                return None
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for match in pattern.finditer(text):
                if _sexagesimal(match.group(1)) == value:
                    return str(path), match.group(1)
    return None


def _file_sources(config: Any) -> List[Path]:
    roots = []
    for source in config.hydra.runtime.get("config_sources", None) or []:
        if source.get("schema") == "file" and source.get("path"):
            path = Path(str(source.path))
            if path.is_dir():
                roots.append(path)
    return roots


def _sexagesimal(text: str) -> int:
    total = 0
    for part in text.replace("_", "").split(":"):
        total = total * 60 + int(part)
    return total
