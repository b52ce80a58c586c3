"""``HYDRAFLOW_DEFAULT_LAUNCHER=hydraflow``: Hydra apps started with it run their multiruns on the
hydraflow launcher unless something chooses a launcher.

``hydraflow run`` sets it for every batch, so that each batch's runs have
their own states, logs and return values in the batch's manifest. The Hydra
plugin reads it (``hydra_plugins/hydraflow_launcher/searchpath.py``): it then
adds ``override /hydra/launcher: hydraflow`` to Hydra's ``hydra/env``
defaults, an override Hydra applies only where neither the command line
(a job's ``with``, ARGS) nor the app's primary config chose a launcher. A
sweep records the variable (``manifest.replay.launch_record``) so that a
retry starts its app with it again.

Hydra imports this module at start-up (through the plugin): keep it light.
"""

from __future__ import annotations

import contextlib
import os
from typing import Dict, Iterator, Optional, Sequence

ENV = "HYDRAFLOW_DEFAULT_LAUNCHER"
#: The one value the plugin acts on: the launcher that replaces Hydra's default.
VALUE = "hydraflow"
_KEY = "hydra/launcher"
_KEPT = "a launcher your app or `with` chooses is kept"


def active() -> bool:
    """True when this process's Hydra app gets the hydraflow launcher by default."""
    return os.environ.get(ENV) == VALUE


def environment() -> Dict[str, str]:
    """The variable, as added to a batch's environment."""
    return {ENV: VALUE}


@contextlib.contextmanager
def set_here() -> Iterator[None]:
    """The variable in this process's environment for a while (a ``call`` batch: a Hydra app its function
    starts, here or as a subprocess, gets the hydraflow launcher as a ``run`` batch does); then as it was."""
    saved = os.environ.get(ENV)
    os.environ[ENV] = VALUE
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = saved


def chosen(arguments: Sequence[str]) -> Optional[str]:
    """The launcher a batch's own arguments choose (``hydra/launcher=NAME``, the last one wins), or None."""
    choice = None
    for argument in arguments:
        key, equals, value = argument.partition("=")
        if equals and key.strip().lstrip("+") == _KEY:
            choice = value.strip()
    return choice


def said(batches: Sequence[Sequence[str]], submit: bool = False) -> str:
    """One line for a dry run: the launcher the batches (their arguments) run on."""
    choices = [chosen(arguments) for arguments in batches]
    named = sorted({c for c in choices if c is not None})
    own = ", ".join(f"{_KEY}={name}" for name in named)
    if named and all(c is not None for c in choices):
        return f"# batches run on {own} (chosen by with or ARGS)"
    where = f" where the submit command passes on {ENV}={VALUE}" if submit else ", not Hydra's basic"
    line = f"# batches run on the hydraflow launcher{where} ({_KEPT})"
    if named:
        line += f"; batch {', '.join(str(i) for i, c in enumerate(choices) if c is not None)}: {own}"
    return line
