"""The probe URLs as Kubernetes and people call them, with the configuration from settings."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.health.conftest import StatusServer
from tests.processes import free_port
from tests.security.conftest import gunicorn

pytestmark = pytest.mark.django_db


@pytest.fixture
def probe_settings(settings: SettingsWrapper) -> SettingsWrapper:
    """Embedded-style dependencies that are all up, Accent-Auth off, no result cache."""
    settings.HEALTH_CACHE_SECONDS = 0
    settings.HEALTH_CHECK_TIMEOUT = 1.0
    settings.HEALTH_OPTIONAL_CHECKS = ["cache", "broker"]
    settings.AUTH_HEALTH_CHECKS_ENABLED = False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings


def test_liveness_touches_nothing_and_is_never_cached(client: Client, probe_settings: SettingsWrapper) -> None:
    probe_settings.CELERY_TASK_ALWAYS_EAGER = False
    probe_settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response.headers["Cache-Control"]


def test_ready_with_every_dependency_up(client: Client, probe_settings: SettingsWrapper) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "skipped"}}
    assert "no-cache" in response.headers["Cache-Control"]


def test_ready_includes_accent_auth_when_enabled_and_fails_on_503(
    client: Client, probe_settings: SettingsWrapper, status_server: StatusServer
) -> None:
    probe_settings.AUTH_HEALTH_CHECKS_ENABLED = True
    probe_settings.ACCENT_AUTH_URL = status_server.base_url
    assert client.get("/health/ready").json()["checks"]["accent_auth"] == "ok"
    status_server.mode = "unavailable"
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unhealthy",
        "checks": {"database": "ok", "cache": "ok", "broker": "skipped", "accent_auth": "failing"},
    }


def test_accent_auth_made_optional_only_degrades(
    client: Client, probe_settings: SettingsWrapper, status_server: StatusServer
) -> None:
    probe_settings.AUTH_HEALTH_CHECKS_ENABLED = True
    probe_settings.ACCENT_AUTH_URL = status_server.base_url
    probe_settings.HEALTH_OPTIONAL_CHECKS = ["accent_auth"]
    status_server.stop()
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"


def test_a_broker_that_is_down_degrades_by_default(client: Client, probe_settings: SettingsWrapper) -> None:
    probe_settings.CELERY_TASK_ALWAYS_EAGER = False
    probe_settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "cache": "ok", "broker": "failing"},
    }
    probe_settings.HEALTH_OPTIONAL_CHECKS = []
    assert client.get("/health/ready").status_code == 503


def test_detail_reports_each_check_and_the_cache(client: Client, probe_settings: SettingsWrapper) -> None:
    probe_settings.HEALTH_CACHE_SECONDS = 30
    first = client.get("/health/").json()
    second = client.get("/health/").json()
    assert first["status"] == "ok"
    database = first["checks"]["database"]
    assert set(database) == {"status", "required", "latency_ms", "error", "cached", "checked_at"}
    assert database["status"] == "ok"
    assert database["required"] is True
    assert database["error"] is None
    assert first["checks"]["cache"]["required"] is False
    assert first["checks"]["broker"] == {
        **first["checks"]["broker"],
        "status": "skipped",
        "error": "no broker configured: tasks run eagerly",
    }
    assert [c["cached"] for c in first["checks"].values()] == [False, False, False]
    assert [c["cached"] for c in second["checks"].values()] == [True, True, True]
    assert second["checks"]["database"]["checked_at"] == database["checked_at"]


def test_probes_need_no_authentication_and_refuse_writes(client: Client, probe_settings: SettingsWrapper) -> None:
    assert client.get("/health/ready").status_code == 200
    assert client.post("/health/ready").status_code == 405


def test_probes_and_metrics_answer_through_a_database_outage_under_atomic_requests() -> None:
    dead_database = f"postgres://postgres@127.0.0.1:{free_port()}/gone"  # nothing listens there
    with gunicorn(
        settings_module="tests.health.atomic_requests_settings",
        DATABASE_URL=dead_database,
        DATABASE_CONNECT_TIMEOUT="1",
        HEALTH_CACHE_SECONDS="0",
        AUTH_HEALTH_CHECKS_ENABLED="false",
    ) as base_url:
        live = httpx.get(f"{base_url}/health/live", timeout=10)
        assert (live.status_code, live.json()) == (200, {"status": "ok"}), "no pod restart for a database outage"
        ready = httpx.get(f"{base_url}/health/ready", timeout=10)
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "unhealthy"
        assert ready.json()["checks"]["database"] == "failing"
        detail = httpx.get(f"{base_url}/health/", timeout=10)
        assert detail.status_code == 503, detail.text
        assert "connection" in detail.json()["checks"]["database"]["error"].lower()
        metrics = httpx.get(f"{base_url}/metrics", timeout=10)
        assert metrics.status_code == 200, metrics.text
        assert "health_check_status" in metrics.text
