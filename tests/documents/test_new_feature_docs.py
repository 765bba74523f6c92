"""docs/new-feature.md quotes the documents app: each quoted block must still be in its file."""

from __future__ import annotations

import re

import pytest

from tests.docs_snippets import DOCS

ROOT = DOCS.parent
QUOTED = re.findall(r"<!-- from (\S+) -->\n```python\n(.*?)```", (DOCS / "new-feature.md").read_text(), flags=re.DOTALL)


def test_the_page_quotes_every_layer() -> None:
    assert {path for path, _ in QUOTED} == {
        "apps/documents/models.py",
        "apps/documents/repositories.py",
        "apps/documents/selectors.py",
        "apps/documents/services.py",
        "apps/documents/api/views.py",
    }


@pytest.mark.parametrize(("path", "block"), QUOTED, ids=[path for path, _ in QUOTED])
def test_each_quoted_block_is_in_its_file(path: str, block: str) -> None:
    assert block.strip() in (ROOT / path).read_text(), f"docs/new-feature.md is out of date with {path}"
