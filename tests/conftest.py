"""Shared test helpers: a private copy of example_app, so tests never write into the repo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def copy_example_app(parent: Path) -> Path:
    target = parent / "example_app"
    shutil.copytree(ROOT / "example_app", target, ignore=shutil.ignore_patterns("multirun", "outputs"))
    return target


@pytest.fixture
def app(tmp_path) -> Path:
    return copy_example_app(tmp_path)
