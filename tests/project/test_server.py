"""The real server processes answer: the development server `make run` starts, and gunicorn."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import clean_env, free_port, manage, running_server


@pytest.fixture(scope="module")
def migrated_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An embedded-default environment whose SQLite file is migrated and private to this module."""
    database = tmp_path_factory.mktemp("server") / "db.sqlite3"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}")
    result = manage("migrate", "--noinput", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture(scope="module")
def dev_server(migrated_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with running_server(command, port=port, env=migrated_env, ready_path="/health/live") as base_url:
        yield base_url


def test_dev_server_serves_the_admin_login(dev_server: str) -> None:
    response = httpx.get(f"{dev_server}/admin/login/", timeout=30)
    assert response.status_code == 200
    assert 'name="username"' in response.text
    assert httpx.get(f"{dev_server}/static/admin/css/base.css", timeout=30).status_code == 200


def test_dev_server_serves_the_openapi_schema_and_its_docs(dev_server: str) -> None:
    schema = httpx.get(f"{dev_server}/api/schema/", headers={"Accept": "application/json"}, timeout=30)
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    docs = httpx.get(f"{dev_server}/api/docs/", timeout=30)
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert "cdn" not in docs.text.lower(), "Swagger UI assets must be served locally (no internet in production)"


def test_liveness_probe_answers(dev_server: str) -> None:
    response = httpx.get(f"{dev_server}/health/live", timeout=30)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response.headers["Cache-Control"]


def test_gunicorn_in_production_mode_serves_with_static_files(migrated_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **migrated_env,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "WHITENOISE_USE_FINDERS": "true",
    }
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "project.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"]
    https = {"X-Forwarded-Proto": "https"}
    with running_server(command, port=port, env=env, ready_path="/health/live") as base_url:
        assert httpx.get(f"{base_url}/health/live", timeout=30).status_code == 200, (
            "probes are exempt from the HTTPS redirect"
        )
        plain = httpx.get(f"{base_url}/admin/login/", timeout=30)
        assert plain.status_code == 301
        assert plain.headers["Location"].startswith("https://")
        login = httpx.get(f"{base_url}/admin/login/", headers=https, timeout=30)
        assert login.status_code == 200
        assert login.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert login.headers["X-Frame-Options"] == "DENY"
        assert httpx.get(f"{base_url}/static/admin/css/base.css", headers=https, timeout=30).status_code == 200


def test_configured_but_unreachable_dependencies_do_not_block_start_up(migrated_env: dict[str, str]) -> None:
    closed = free_port()
    env = {
        **migrated_env,
        "REDIS_URL": f"redis://127.0.0.1:{closed}/0",
        "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{closed}//",
        "ACCENT_AUTH_URL": f"http://127.0.0.1:{closed}/0.1",
    }
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with running_server(command, port=port, env=env, ready_path="/health/live") as base_url:
        assert httpx.get(f"{base_url}/health/live", timeout=5).status_code == 200
        assert httpx.get(f"{base_url}/admin/login/", timeout=10).status_code == 200
