"""hydraflow: extended sweep syntax, job definitions and dispatch for Hydra multiruns.

Public API (SPEC 1.7)::

    >>> from hydraflow_core import expand, count
    >>> list(expand(["lr=1m:3m", "model=small,large"]))[:2]
    [['lr=0.001', 'model=small'], ['lr=0.001', 'model=large']]
    >>> count(["a=1:1000", "b=1:1000", "c=1:1000", "d=1:1000"])
    1000000000000
"""

from __future__ import annotations

from typing import Iterator, List, Sequence

from hydraflow_core.errors import HydraflowError, SweepSyntaxError
from hydraflow_core.limits import MAX_VALUES

# The syntax engine (and Hydra's override parser under it) is imported on first use, not here:
# Hydra imports the plugin's config at every app's start-up, and it reads hydraflow_core.slurm_fields.

__version__ = "0.1.0"
__all__ = ["expand", "count", "SweepSyntaxError", "HydraflowError", "__version__"]


def expand(overrides: Sequence[str], *, max_values: int = MAX_VALUES) -> Iterator[List[str]]:
    """The runs of a sweep, lazily, in Hydra's order; each run a list of ``key=value``.

    Every override is parsed and checked at once: bad syntax raises
    :class:`SweepSyntaxError` here, before the first run is produced.
    """
    from hydraflow_core.syntax import parse_sweep

    return parse_sweep(overrides, max_values).runs()


def count(overrides: Sequence[str], *, max_values: int = MAX_VALUES) -> int:
    """The number of runs of a sweep, computed without expanding it."""
    from hydraflow_core.syntax import parse_sweep

    return parse_sweep(overrides, max_values).count()
