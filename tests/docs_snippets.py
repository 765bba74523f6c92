"""Run the Python examples of a docs page, in order, so the docs cannot rot."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent / "docs"


def python_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    return [inspect.cleandoc(block) for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)]


def run_blocks(page: str, blocks: list[str] | None = None) -> dict[str, Any]:
    """Execute every block of `page` in one namespace; a failure names the block."""
    namespace: dict[str, Any] = {"__name__": f"docs.{page}"}
    for index, block in enumerate(python_blocks(page) if blocks is None else blocks):
        try:
            exec(compile(block, f"docs/{page}#python-block-{index}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"docs/{page} block {index} failed:\n{block}") from error
    return namespace
