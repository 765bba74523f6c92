"""Every variable the code reads is documented in .env.example and docs/configuration.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `env.integer("WEB_CONCURRENCY", ...)`, and the single quotes inside an f-string (`env.integer('PORT', ...)`).
READ_CALL = re.compile(r"""\benv\.\w+\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for path in [*(ROOT / "project").glob("*.py"), *(ROOT / "apps").rglob("settings*.py")]:
        names.update(READ_CALL.findall(path.read_text()))
    return names


def test_the_code_reads_the_spec_variables() -> None:
    spec = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "ACCENT_AUTH_URL", "AUTH_HEALTH_CHECKS_ENABLED"}
    spec |= {"DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS"}
    assert spec <= variables_read_by_the_code()


def test_every_variable_is_in_env_example() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert variables_read_by_the_code() - documented == set()


def test_every_variable_is_in_the_configuration_docs() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", docs, flags=re.MULTILINE))
    assert variables_read_by_the_code() - documented == set()
