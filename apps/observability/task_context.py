"""Carry the request's context into Celery tasks: message headers out, scopes restored in the worker.

`before_task_publish` copies the caller's request id, actor and tenant into the task's
message headers; `task_prerun` reopens them (`request_scope`, `acting_as`,
`in_tenant`) around the task in the worker, and `task_postrun` closes them, so every
line the task logs (and every row it audits) carries the request that asked for it.
The trace continues through the OpenTelemetry Celery instrumentation (`traceparent`).

Eagerly run tasks execute inside the caller's context already: nothing is restored.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from celery import signals

from apps.core.context import (
    RequestScope,
    acting_as,
    current_actor,
    current_request_id,
    current_tenant,
    in_tenant,
    request_scope,
)

__all__ = ["ACTOR_HEADER", "REQUEST_ID_HEADER", "TENANT_HEADER", "connect_task_context", "context_headers"]

REQUEST_ID_HEADER = "x_request_id"
ACTOR_HEADER = "x_actor"
TENANT_HEADER = "x_tenant"

_open_scopes: dict[str, ExitStack] = {}


def context_headers() -> dict[str, str]:
    """The current context as task headers (only what is set)."""
    headers: dict[str, str] = {}
    request_id = current_request_id()
    actor = current_actor()
    tenant = current_tenant()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    if actor:
        headers[ACTOR_HEADER] = actor
    if tenant is not None:
        headers[TENANT_HEADER] = str(tenant)
    return headers


def _add_context_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None:
        return
    for name, value in context_headers().items():
        headers.setdefault(name, value)


def _header(task: Any, name: str) -> str | None:
    request = task.request
    value = getattr(request, name, None)  # protocol 2: custom headers become request attributes
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return str(value) if value is not None else None


def _restore_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task is None or task_id is None or getattr(task.request, "is_eager", False):
        return
    stack = ExitStack()
    request_id = _header(task, REQUEST_ID_HEADER)
    # A task nobody's request asked for (beat, a script) gets its own id: its task id.
    stack.enter_context(request_scope(RequestScope(request_id=request_id or task_id)))
    actor = _header(task, ACTOR_HEADER)
    if actor is not None:
        stack.enter_context(acting_as(actor))
    tenant = _header(task, TENANT_HEADER)
    if tenant is not None:
        stack.enter_context(in_tenant(tenant))
    _open_scopes[task_id] = stack


def _close_context(task_id: str | None = None, **_: Any) -> None:
    stack = _open_scopes.pop(task_id, None) if task_id is not None else None
    if stack is not None:
        stack.close()


def connect_task_context() -> None:
    """Connect the three signals once (idempotent: each has a dispatch uid)."""
    signals.before_task_publish.connect(_add_context_headers, weak=False, dispatch_uid="observability.headers")
    signals.task_prerun.connect(_restore_context, weak=False, dispatch_uid="observability.restore")
    signals.task_postrun.connect(_close_context, weak=False, dispatch_uid="observability.close")
