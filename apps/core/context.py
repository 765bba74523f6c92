"""Who is acting, in which tenant, for which request: context variables, safe under ASGI and threads.

Every value is held in a `contextvars.ContextVar` and set with a token that is reset
in `finally`, so nothing leaks from one request, task or script into the next.

- `acting_as(actor)` / `in_tenant(tenant_id)`: explicit scopes for scripts, tasks, tests.
- `RequestContextMiddleware` (see `apps.core.middleware`) opens a request scope whose
  actor is resolved *lazily* from `request.user`, so authentication that runs inside
  the view (DRF token authentication) is seen by everything after it.
- An explicit `acting_as` / `in_tenant` always wins over the request scope.
- `ReadRouting` (one per request or task, `current_read_routing()`): whether the scope has
  written, so the read-replica router (`apps.core.replica_router`) sends its later reads to
  the primary. It lives on the scope object, not in a context variable of its own, so a
  write made in a thread of the request (`sync_to_async`) is seen by the request's later reads.

Actors are stable strings: an Accent-Auth user UUID, or `admin:<username>` for
Django (admin) users.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ReadRouting",
    "RequestScope",
    "acting_as",
    "actor_for_user",
    "current_actor",
    "current_read_routing",
    "current_request_id",
    "current_tenant",
    "in_tenant",
    "request_scope",
    "set_request_tenant",
]

_UNSET: Any = object()


@dataclass
class ReadRouting:
    """Where the reads of one request or task may go; mutable, filled in by the replica router."""

    wrote: bool = False  # a write went to the primary: every later read goes there too
    replica_checked: bool = False  # the replica's connection was found usable once in this scope


@dataclass
class RequestScope:
    """What one request knows about its caller. Mutable: authentication fills the tenant in."""

    request_id: str
    resolve_actor: Callable[[], str | None] = field(default=lambda: None)
    tenant_id: uuid.UUID | None = None
    reads: ReadRouting = field(default_factory=ReadRouting)


_actor: ContextVar[str | None] = ContextVar("actor", default=_UNSET)
_tenant: ContextVar[uuid.UUID | None] = ContextVar("tenant", default=_UNSET)
_scope: ContextVar[RequestScope | None] = ContextVar("request_scope", default=None)
# Code outside any scope (a script, the shell): one routing state for the rest of its context.
_unscoped_reads: ContextVar[ReadRouting | None] = ContextVar("unscoped_reads", default=None)


def actor_for_user(user: Any) -> str | None:
    """The actor string for a request's user: its `actor_id` (token users) or `admin:<username>`."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    actor_id = getattr(user, "actor_id", None)
    if actor_id:
        return str(actor_id)
    return f"admin:{user.get_username()}"


def current_actor() -> str | None:
    actor = _actor.get()
    if actor is not _UNSET:
        return actor
    scope = _scope.get()
    return scope.resolve_actor() if scope is not None else None


def current_tenant() -> uuid.UUID | None:
    tenant = _tenant.get()
    if tenant is not _UNSET:
        return tenant
    scope = _scope.get()
    return scope.tenant_id if scope is not None else None


def current_request_id() -> str | None:
    scope = _scope.get()
    return scope.request_id if scope is not None else None


def current_read_routing() -> ReadRouting:
    """The read routing of the current request or task; outside one, of the current context."""
    scope = _scope.get()
    if scope is not None:
        return scope.reads
    reads = _unscoped_reads.get()
    if reads is None:
        reads = ReadRouting()
        _unscoped_reads.set(reads)
    return reads


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Attribute every change made inside the block to `actor` (e.g. `"admin:alice"`, a user UUID)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


@contextmanager
def in_tenant(tenant_id: uuid.UUID | str | None) -> Iterator[None]:
    """Scope every tenant-aware query and write inside the block to `tenant_id` (`None`: no tenant)."""
    token = _tenant.set(None if tenant_id is None else uuid.UUID(str(tenant_id)))
    try:
        yield
    finally:
        _tenant.reset(token)


@contextmanager
def request_scope(scope: RequestScope) -> Iterator[RequestScope]:
    """Open the scope of one request (or task); the middleware and Celery signals use this."""
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def set_request_tenant(tenant_id: uuid.UUID | None) -> None:
    """Record the tenant authentication established for the current request."""
    scope = _scope.get()
    if scope is None:
        raise RuntimeError("set_request_tenant() called outside a request scope")
    scope.tenant_id = tenant_id
