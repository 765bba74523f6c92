"""OpenTelemetry traces for Django, psycopg, Redis, Celery and httpx, configured by `OTEL_*`.

Off unless an exporter is configured: `OTEL_TRACES_EXPORTER` (`otlp`, `console`) or an
OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`);
`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` force it off. Everything else
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
sampling...) is read by the SDK itself.

The SDK (its exporter thread) is created once per process. Under gunicorn the config
(`project/gunicorn_config.py`) defers it to `post_fork`, so each worker has its own
live exporter thread; elsewhere (runserver, Celery, manage.py) the app's `ready()` starts it.
Probe and metrics URLs are never traced.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

__all__ = [
    "UNTRACED_URLS",
    "configure_tracing",
    "defer_tracing_until_fork",
    "exporter_from_environment",
    "instrument_libraries",
    "uninstrument_libraries",
]

# Regexes matched against the URL (OpenTelemetry's excluded-URL convention).
UNTRACED_URLS = ["/health/", "/metrics"]

_state = {"configured": False, "deferred": False}


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def exporter_from_environment() -> SpanExporter | None:
    """The exporter `OTEL_*` asks for, or `None` when tracing is off."""
    if _truthy("OTEL_SDK_DISABLED"):
        return None
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if choice == "none" or (not choice and not endpoint):
        return None
    if choice == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

    return OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*


def instrument_libraries(provider: trace.TracerProvider) -> None:
    """Trace Django requests (outermost middleware), SQL through psycopg, Redis, Celery and httpx."""
    excluded = ",".join(filter(None, [os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS"), *UNTRACED_URLS]))
    DjangoInstrumentor().instrument(tracer_provider=provider, excluded_urls=excluded, middleware_position=0)
    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    RedisInstrumentor().instrument(tracer_provider=provider)
    CeleryInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)


def uninstrument_libraries() -> None:
    for instrumentor in (
        DjangoInstrumentor(),
        PsycopgInstrumentor(),
        RedisInstrumentor(),
        CeleryInstrumentor(),  # type: ignore[no-untyped-call]
        HTTPXClientInstrumentor(),
    ):
        instrumentor.uninstrument()


def defer_tracing_until_fork() -> None:
    """Called in the gunicorn master: `configure_tracing` then only acts in `post_fork`."""
    _state["deferred"] = True


def configure_tracing(*, service_name: str, after_fork: bool = False) -> TracerProvider | None:
    """Create the SDK and instrument the libraries once per process, if an exporter is configured."""
    if _state["configured"] or (_state["deferred"] and not after_fork):
        return None
    exporter = exporter_from_environment()
    if exporter is None:
        return None
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    instrument_libraries(provider)
    _state["configured"] = True
    return provider
