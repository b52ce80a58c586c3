"""Shared test helpers: a private copy of example_app, so tests never write into the repo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# Tests never write into the repository: no .hypothesis/ example database.
settings.register_profile("hydraflow", database=None)
settings.load_profile("hydraflow")

ROOT = Path(__file__).resolve().parents[1]


def copy_example_app(parent: Path) -> Path:
    target = parent / "example_app"
    shutil.copytree(ROOT / "example_app", target, ignore=shutil.ignore_patterns("multirun", "outputs"))
    return target


@pytest.fixture
def app(tmp_path) -> Path:
    return copy_example_app(tmp_path)


def pids_running(text: str) -> list:
    """Pids of live processes whose command line holds ``text`` (read from /proc: no pgrep needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":  # a zombie has already exited
            found.append(int(entry.name))
    return found


#: An app whose runs with ``seed`` in ``fail`` fail their first ``times`` tries (counted in files under $MARKERS).
FAIL_ONCE = """
import os, pathlib, hydra

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    marker = pathlib.Path(os.environ["MARKERS"]) / f"{cfg.seed}"
    tries = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(tries))
    if cfg.seed in cfg.fail and tries <= cfg.times:
        raise RuntimeError(f"seed {cfg.seed} fails on try {tries}")
    return cfg.seed

if __name__ == "__main__":
    main()
"""
