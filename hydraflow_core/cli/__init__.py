"""The ``hydraflow`` command: one module per verb, argument parsing in :mod:`.main`.

Light on purpose: the Hydra plugin imports :mod:`.summary` and :mod:`.stdout`
from here, so the verbs are imported only when the command runs.
"""

from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    from hydraflow_core.cli.main import main as run

    return run(argv)


__all__ = ["main"]
