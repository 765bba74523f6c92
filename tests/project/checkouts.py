"""Copies of this checkout for tests that rename or generate a service: the tree without its venv.

A copy reuses the parent's `.venv` (its interpreter runs the copy's code from the copy's
directory), so nothing is installed or downloaded per test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.processes import ROOT

__all__ = ["IGNORED", "copy_checkout"]

IGNORED = (".git", ".venv", ".tools", "var", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "htmlcov")


def copy_checkout(target: Path, *, source: Path = ROOT) -> Path:
    """The tracked-looking tree of `source` under `target` (no venv, caches, database or git)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*IGNORED))
    return target
