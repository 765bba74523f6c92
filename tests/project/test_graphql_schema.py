"""`schema.graphql` at the repository root is the live GraphQL schema (regenerate: `make graphql-schema`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from project.graphql import schema
from scripts import graphql_schema
from scripts.graphql_schema import SCHEMA_FILE, main, schema_text


def test_the_checked_in_schema_is_the_live_one() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "schema.graphql is stale: run `make graphql-schema`"
    assert "type Query" in schema_text()
    assert str(schema).strip() == schema_text().strip()


def test_the_check_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text(schema_text().replace("createDocument", "makeDocument"))
    monkeypatch.setattr(graphql_schema, "SCHEMA_FILE", stale)
    assert main(["--check"]) == 1
    stale.write_text(schema_text())
    assert main(["--check"]) == 0
