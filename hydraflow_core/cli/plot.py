"""``hydraflow results DIR --plot X --y KEY --out FILE``: KEY against the swept key X, one line per
combination of the other swept keys (matplotlib: the ``plot`` extra)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Tuple

from hydraflow_core.errors import UsageError
from hydraflow_core.results import Results, number

#: The picture formats, by the file's suffix.
FORMATS = (".png", ".svg")


def series(found: Results, x: str, y: str) -> Dict[str, List[Tuple[Any, float]]]:
    """The lines to draw: a label (the other swept keys' values; "" for one line) -> its (x, y) points in
    x's order. Rows without a finite number for ``y`` (failed runs, NaN) are left out."""
    others = [key for key in found.swept if key != x]
    lines: Dict[str, List[Tuple[Any, float]]] = {}
    for row in found.rows:
        value, at = number(row.get(y)), row.get(x)
        if value is None or not math.isfinite(value) or at is None:
            continue
        label = " ".join(f"{key}={row.params.get(key, '')}" for key in others)
        lines.setdefault(label, []).append((at, value))
    numeric = all(number(at) is not None for points in lines.values() for at, _ in points)
    for points in lines.values():
        points.sort(key=lambda point: number(point[0]) if numeric else str(point[0]))
    if not lines:
        raise UsageError(f"--y {y}: no run has a number for it (the numbers are: {', '.join(found.numbers)})")
    return lines


def plot(found: Results, x: str, y: str, out: Path) -> None:
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"--out {out}: the picture is written as .png or .svg, not '{out.suffix or out.name}'")
    lines = series(found, x, y)
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed here: "
                         "pip install 'hydraflow-launcher[plot]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6.4, 4.2))
    numeric = all(number(at) is not None for points in lines.values() for at, _ in points)
    for label, points in lines.items():
        xs = [number(at) if numeric else str(at) for at, _ in points]
        axes.plot(xs, [value for _, value in points], marker="o", label=label or None)
    xs_all = [number(at) for points in lines.values() for at, _ in points] if numeric else []
    if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 100:  # a sweep over decades
        axes.set_xscale("log")
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(str(found.directory.name))
    if any(lines):
        axes.legend()
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(out)
    pyplot.close(figure)
