"""docs/repository.md runs: every Python example, in order, against the documents app."""

from __future__ import annotations

import pytest

from tests.docs_snippets import python_blocks, run_blocks


@pytest.mark.django_db
def test_repository_docs_examples_run() -> None:
    namespace = run_blocks("repository.md")
    assert namespace["result"].created == 1
    assert len(python_blocks("repository.md")) >= 5
