"""docs/observability.md's snippet runs and renders the line the page shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.observability.conftest import LogLines

DOC = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()


def test_the_logging_snippet_renders_the_documented_line(log_lines: LogLines) -> None:
    (snippet,) = re.findall(r"```python\n(.*?)```", DOC, flags=re.DOTALL)
    (documented,) = (json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL))
    exec(snippet, {})
    (line,) = [line for line in log_lines() if line["event"] == "invoice_sent"]
    assert set(line) == set(documented)
    assert {k: v for k, v in line.items() if k != "timestamp"} == {
        k: v for k, v in documented.items() if k != "timestamp"
    }
