"""The ``hydraflow`` command: one module per verb, argument parsing in :mod:`.main`."""

from hydraflow_core.cli.main import main

__all__ = ["main"]
