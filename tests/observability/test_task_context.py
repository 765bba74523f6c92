"""The caller's request id, actor and tenant reach the task: eagerly, and through RabbitMQ to a real worker."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from apps.core.context import RequestScope, acting_as, current_request_id, in_tenant, request_scope
from apps.observability.task_context import ACTOR_HEADER, REQUEST_ID_HEADER, TENANT_HEADER, context_headers
from project.celery import app
from tests.observability.tasks import report_context
from tests.processes import celery_worker, clean_env, wait_for_log_event


def test_context_headers_carry_only_what_is_set() -> None:
    assert context_headers() == {}
    tenant = uuid.uuid4()
    with request_scope(RequestScope(request_id="r-1")), acting_as("user-1"), in_tenant(tenant):
        assert context_headers() == {REQUEST_ID_HEADER: "r-1", ACTOR_HEADER: "user-1", TENANT_HEADER: str(tenant)}


def test_an_eager_task_runs_in_the_callers_context() -> None:
    tenant = uuid.uuid4()
    with request_scope(RequestScope(request_id="eager-1")), acting_as("user-2"), in_tenant(tenant):
        result = report_context.apply(args=("eager",)).get()
    assert result == {"request_id": "eager-1", "actor": "user-2", "tenant": str(tenant)}
    assert current_request_id() is None, "nothing leaks out of the task"


@pytest.fixture
def worker(broker_url: str) -> Iterator[tuple[str, queue.Queue[str]]]:
    """A real Celery worker process on a queue of its own; yields the queue name and its output lines."""
    queue_name = f"observability-test-{uuid.uuid4().hex[:8]}"
    env = clean_env(
        CELERY_BROKER_URL=broker_url,
        LOG_FORMAT="json",
        DJANGO_SETTINGS_MODULE="project.settings",
        OTEL_TRACES_EXPORTER="console",  # tracing on in the worker, so its lines carry the trace id
    )
    with celery_worker(queue_name=queue_name, include="tests.observability.tasks", env=env) as lines:
        yield queue_name, lines


def test_a_real_worker_logs_with_the_publishers_context(worker: tuple[str, queue.Queue[str]]) -> None:
    assert not app.conf.task_always_eager, "this test needs a broker"
    queue_name, lines = worker
    tenant = uuid.uuid4()
    marker = uuid.uuid4().hex
    with request_scope(RequestScope(request_id="via-rabbitmq")), acting_as("user-3"), in_tenant(tenant):
        report_context.apply_async(args=(marker,), queue=queue_name, ignore_result=True)
    line = wait_for_log_event(lines, "inside_task", marker)
    assert (line["request_id"], line["actor"], line["tenant"]) == ("via-rabbitmq", "user-3", str(tenant))


def test_a_task_nobody_requested_gets_its_task_id_as_request_id(worker: tuple[str, queue.Queue[str]]) -> None:
    queue_name, lines = worker
    marker = uuid.uuid4().hex
    sent = report_context.apply_async(args=(marker,), queue=queue_name, ignore_result=True)
    line = wait_for_log_event(lines, "inside_task", marker)
    assert (line["request_id"], line["actor"], line["tenant"]) == (sent.id, None, None)


def test_a_real_worker_continues_the_publishers_trace(worker: tuple[str, queue.Queue[str]]) -> None:
    queue_name, lines = worker
    provider = TracerProvider()
    CeleryInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    marker = uuid.uuid4().hex
    try:
        with provider.get_tracer("test").start_as_current_span("request") as span:
            report_context.apply_async(args=(marker,), queue=queue_name, ignore_result=True)
    finally:
        CeleryInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    line = wait_for_log_event(lines, "inside_task", marker)
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] not in (None, format(span.get_span_context().span_id, "016x"))
