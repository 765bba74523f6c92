"""Spans for a request that hits the database, Redis and a task; trace ids in its log lines; probes untraced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connections
from django.test import Client
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.observability import tracing
from tests.observability.conftest import LogLines


@pytest.fixture
def spans(settings: SettingsWrapper) -> Iterator[InMemorySpanExporter]:
    """Every library instrumented against an in-memory exporter, for this test only."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings.MIDDLEWARE = list(settings.MIDDLEWARE)  # the Django instrumentor inserts into this list
    settings.ROOT_URLCONF = "tests.observability.urls"
    settings.HEALTH_CACHE_SECONDS = 0
    tracing.instrument_libraries(provider)
    connections.close_all()  # new connections are made through the instrumented psycopg.connect
    try:
        yield exporter
    finally:
        tracing.uninstrument_libraries()
        connections.close_all()


def _server_span(finished: tuple[ReadableSpan, ...]) -> ReadableSpan:
    servers = [span for span in finished if span.kind == SpanKind.SERVER]
    assert len(servers) == 1, [span.name for span in finished]
    return servers[0]


def _children(finished: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [span for span in finished if span.parent is not None and span.parent.span_id == parent.context.span_id]


@pytest.mark.django_db(transaction=True)
def test_a_request_span_is_the_parent_of_its_task_span_and_its_log_lines_carry_the_trace(
    client: Client, spans: InMemorySpanExporter, log_lines: LogLines
) -> None:
    assert client.get("/obs/work", headers={"X-Request-ID": "traced-1"}).status_code == 200
    finished = spans.get_finished_spans()
    server = _server_span(finished)
    assert server.context is not None
    assert server.name == "GET obs/work"
    assert server.attributes is not None
    assert server.attributes["http.status_code"] == 200
    assert {span.context.trace_id for span in finished if span.context} == {server.context.trace_id}
    task_spans = [span for span in _children(finished, server) if "report_context" in span.name]
    assert len(task_spans) == 1
    trace_id = format(server.context.trace_id, "032x")
    lines = {line["event"]: line for line in log_lines()}
    for event in ("request_started", "inside_view", "inside_task", "request_finished"):
        assert lines[event]["trace_id"] == trace_id, event
        assert lines[event]["request_id"] == "traced-1", event
    assert lines["inside_view"]["span_id"] == format(server.context.span_id, "016x")


@pytest.mark.django_db(transaction=True)
def test_database_and_redis_spans_are_children_of_the_request_span(
    client: Client, spans: InMemorySpanExporter, postgres: None, redis_url: str, settings: SettingsWrapper
) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": redis_url, "KEY_PREFIX": "observability-test"},
    }
    assert "redis" in settings.CACHES["default"]["BACKEND"]
    assert client.get("/obs/work").status_code == 200
    finished = spans.get_finished_spans()
    children = _children(finished, _server_span(finished))
    systems = {(span.attributes or {}).get("db.system") for span in children}
    assert {"postgresql", "redis"} <= systems, [span.name for span in children]
    assert any(span.name.startswith("SELECT") for span in children)
    assert {"SET", "GET"} <= {span.name for span in children}


@pytest.mark.django_db
def test_probes_and_metrics_are_not_traced(client: Client, spans: InMemorySpanExporter) -> None:
    for url in ("/health/live", "/health/ready", "/health/", "/metrics"):
        assert client.get(url).status_code in {200, 503}
    assert [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER] == []


def test_tracing_is_off_without_an_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.exporter_from_environment() is None
    assert tracing.configure_tracing(service_name="test") is None


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"OTEL_TRACES_EXPORTER": "console"}, ConsoleSpanExporter),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "OTLPSpanExporter"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, None),
    ],
)
def test_the_exporter_follows_otel_environment(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: object
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    exporter = tracing.exporter_from_environment()
    if expected is None:
        assert exporter is None
    elif isinstance(expected, str):
        assert type(exporter).__name__ == expected
    else:
        assert isinstance(exporter, expected)  # type: ignore[arg-type]


def test_a_gunicorn_master_defers_the_sdk_to_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setattr(tracing, "_state", {"configured": False, "deferred": False})
    tracing.defer_tracing_until_fork()
    assert tracing.configure_tracing(service_name="test") is None, "the master must not start an exporter thread"
