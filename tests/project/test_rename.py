"""`make rename NAME=...` rewrites the service's name everywhere it is a name, and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts.rename import REPLACEMENTS, main, rename

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    for relative in {relative for relative, _, _ in REPLACEMENTS}:
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, target)
    return tmp_path


def test_rename_rewrites_names_defaults_and_titles(template_copy: Path) -> None:
    changed = rename(template_copy, "billing_core")
    assert "pyproject.toml" in changed
    assert 'name = "billing_core"' in (template_copy / "pyproject.toml").read_text()
    settings = (template_copy / "project/settings.py").read_text()
    assert 'env.string("SERVICE_NAME", "billing_core")' in settings
    assert 'env.string("SERVICE_TITLE", "Billing Core API")' in settings
    assert (
        "postgres://billing_core:billing_core@postgres:5432/billing_core"
        in (template_copy / "docker-compose.yml").read_text()
    )
    assert (template_copy / "README.md").read_text().startswith("# Billing Core")


def test_rename_twice_fails_loudly_without_partial_writes(template_copy: Path) -> None:
    rename(template_copy, "billing")
    before = (template_copy / "pyproject.toml").read_text()
    with pytest.raises(ValueError, match="already renamed"):
        rename(template_copy, "invoices")
    assert (template_copy / "pyproject.toml").read_text() == before


def test_rename_refuses_names_that_are_not_identifiers(template_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Billing-API", "--root", str(template_copy)]) == 2
    assert "NAME must be lowercase" in capsys.readouterr().err
    assert 'name = "service"' in (template_copy / "pyproject.toml").read_text()
