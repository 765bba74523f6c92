"""Every line carries the request's context; requests log start and finish; probes stay quiet."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
import structlog
from django.contrib.auth import get_user_model
from django.test import Client
from opentelemetry.sdk.trace import TracerProvider
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.core.context import RequestScope, acting_as, in_tenant, request_scope
from apps.observability.logging import add_request_context
from tests.observability.conftest import LogLines
from tests.processes import ROOT, clean_env

pytestmark = pytest.mark.django_db

CONTEXT_KEYS = {"request_id", "actor", "tenant", "trace_id", "span_id"}


@pytest.fixture
def observed(settings: SettingsWrapper) -> SettingsWrapper:
    settings.ROOT_URLCONF = "tests.observability.urls"
    return settings


def _named(lines: list[dict[str, object]], event: str) -> dict[str, object]:
    found = [line for line in lines if line["event"] == event]
    assert len(found) == 1, f"expected one {event!r} line in {lines}"
    return found[0]


def test_a_line_outside_any_request_still_has_every_context_key(log_lines: LogLines) -> None:
    structlog.get_logger("test").info("plain")
    line = _named(log_lines(), "plain")
    assert line.keys() >= CONTEXT_KEYS
    assert line["request_id"] is None
    assert line["trace_id"] is None


def test_explicit_scopes_show_in_structlog_and_stdlib_lines(log_lines: LogLines) -> None:
    import logging

    tenant = uuid.uuid4()
    with request_scope(RequestScope(request_id="req-1")), acting_as("admin:alice"), in_tenant(tenant):
        structlog.get_logger("test").info("from_structlog")
        logging.getLogger("some.library").warning("from %s", "stdlib")
    for line in (_named(log_lines(), "from_structlog"), _named(log_lines(), "from stdlib")):
        assert (line["request_id"], line["actor"], line["tenant"]) == ("req-1", "admin:alice", str(tenant))


def test_trace_and_span_ids_come_from_the_current_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        event = add_request_context(None, "info", {})
    context = span.get_span_context()
    assert event["trace_id"] == format(context.trace_id, "032x")
    assert event["span_id"] == format(context.span_id, "016x")


def test_an_actor_that_cannot_be_resolved_does_not_stop_logging(log_lines: LogLines) -> None:
    def broken() -> str:
        raise RuntimeError("session store down")

    with request_scope(RequestScope(request_id="req-2", resolve_actor=broken)):
        structlog.get_logger("test").info("still_logged")
    line = _named(log_lines(), "still_logged")
    assert (line["request_id"], line["actor"]) == ("req-2", None)


def test_a_view_line_and_a_task_line_carry_the_request_id_and_actor(
    client: Client, observed: SettingsWrapper, log_lines: LogLines
) -> None:
    user = get_user_model().objects.create_user("alice", password="pw")
    client.force_login(user)
    response = client.get("/obs/work", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.json()["task"] == {"request_id": "abc-123", "actor": "admin:alice", "tenant": None}
    lines = log_lines()
    for event in ("request_started", "inside_view", "inside_task", "request_finished"):
        line = _named(lines, event)
        assert line["request_id"] == "abc-123", event
    assert _named(lines, "inside_view")["actor"] == "admin:alice"
    assert _named(lines, "inside_task")["actor"] == "admin:alice"
    finished = _named(lines, "request_finished")
    assert finished["status"] == 200
    assert finished["method"] == "GET"
    assert finished["path"] == "/obs/work"
    assert isinstance(finished["duration_ms"], float)


def test_a_generated_request_id_is_echoed_and_logged(
    client: Client, observed: SettingsWrapper, log_lines: LogLines
) -> None:
    response = client.get("/obs/work")
    generated = response.headers["X-Request-ID"]
    assert len(generated) == 32
    assert _named(log_lines(), "request_finished")["request_id"] == generated


def test_a_failing_view_is_logged_with_its_traceback(observed: SettingsWrapper, log_lines: LogLines) -> None:
    client = Client(raise_request_exception=False)
    assert client.get("/obs/boom", headers={"X-Request-ID": "boom-1"}).status_code == 500
    lines = log_lines()
    finished = _named(lines, "request_finished")
    assert (finished["request_id"], finished["status"], finished["level"]) == ("boom-1", 500, "warning")
    error = _named(lines, "Internal Server Error: /obs/boom")
    assert error["request_id"] == "boom-1"
    assert "RuntimeError: the view failed" in str(error["exception"])


def test_probes_and_metrics_are_not_logged(client: Client, observed: SettingsWrapper, log_lines: LogLines) -> None:
    observed.HEALTH_CACHE_SECONDS = 0
    observed.CELERY_TASK_ALWAYS_EAGER = True
    assert client.get("/health/live").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert [line for line in log_lines() if line["event"].startswith("request_")] == []


def test_the_configured_logging_renders_every_line_once_as_json_with_context_and_masked() -> None:
    """LOGGING_CONFIG applies LOGGING and structlog at set-up; Django's own handlers print nothing."""
    script = (
        "import django, logging, structlog; django.setup(); "
        "logging.getLogger('django').warning('stdlib password=hunter2'); "
        "logging.getLogger('django.server').error('server token=abc'); "
        "structlog.get_logger('ours').warning('structlog', token='abc')"
    )
    # Development mode: Django's DEFAULT_LOGGING console handler is active there (DEBUG).
    env = clean_env(DJANGO_SETTINGS_MODULE="project.settings", LOG_FORMAT="json", LOG_LEVEL="WARNING")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["event"] for line in lines] == [
        "stdlib password=[REDACTED]",
        "server token=[REDACTED]",
        "structlog",
    ]
    assert lines[2]["token"] == "[REDACTED]"
    assert all(line.keys() >= CONTEXT_KEYS for line in lines)
