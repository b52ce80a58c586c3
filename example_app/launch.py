"""Target of the `called` job: hydraflow calls `sweep(arguments)` once per batch."""

import subprocess
import sys


def sweep(arguments):
    # Any Python works here; this one runs the batch as a Hydra multirun.
    subprocess.run([sys.executable, "train.py", "-m", *arguments], check=True)
