"""Reads to the PostgreSQL read replica, writes to the primary, and each scope reads its own writes.

Installed (`DATABASE_ROUTERS`) only when `DATABASE_REPLICA_URL` adds the `replica` alias
(project/backends.py). A read of a model whose app is in `DATABASE_REPLICA_APPS` goes to
the replica unless one of these sends it to the primary:

- the current request or Celery task (`apps.core.context.current_read_routing`) has written:
  every write is routed, and routing one marks the scope, so the rest of it never reads a
  replica that has not replayed that write yet (read-your-writes);
- the primary is inside a transaction (`atomic`, `select_for_update`): a transaction reads
  its own snapshot, on the primary;
- the read computes a value to be cached (`reads_from_primary()`, around every `@cached` fill):
  a lagging replica would put a value from before an invalidation into the cache, after it,
  and the cache would serve it until the next invalidation;
- the replica is down: its connection failed to open or a query on it failed. The breaker
  (`apps.core.breaker.Breaker`, `database_replica`) then keeps reads on the primary for
  `DATABASE_REPLICA_COOL_DOWN` seconds, after which one read tries the replica again.

A write outside the ORM (`connection.cursor()` on the primary) is not seen by the router:
call `pin_reads_to_primary()` after it when the scope reads what it wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models import Model

from apps.core.breaker import Breaker
from apps.core.context import current_read_routing

__all__ = [
    "PRIMARY",
    "REPLICA",
    "ReplicaRouter",
    "connect_replica_watch",
    "pin_reads_to_primary",
    "reads_from_primary",
    "replica_breaker",
]

PRIMARY = DEFAULT_DB_ALIAS
REPLICA = "replica"  # project.backends.REPLICA_ALIAS: apps do not import the project

_primary_block: ContextVar[bool] = ContextVar("primary_reads_block", default=False)


@cache
def replica_breaker() -> Breaker:
    """The one breaker of the replica in this process."""
    return Breaker("database replica", cool_down=float(getattr(settings, "DATABASE_REPLICA_COOL_DOWN", 5.0)))


def pin_reads_to_primary() -> None:
    """Send the rest of the current request's (task's) reads to the primary."""
    current_read_routing().wrote = True


@contextmanager
def reads_from_primary() -> Iterator[None]:
    """Every read inside the block goes to the primary; after it, the scope reads as before."""
    token = _primary_block.set(True)
    try:
        yield
    finally:
        _primary_block.reset(token)


def _replica_usable() -> bool:
    """The replica's connection is open and answers, checked once per scope; a failure opens the breaker."""
    breaker = replica_breaker()
    if not breaker.allows():
        return False
    routing = current_read_routing()
    if routing.replica_checked and not breaker.is_open:
        return True
    replica = connections[REPLICA]
    try:
        if replica.connection is not None and not replica.is_usable():
            replica.close()  # the server went away since this connection was opened
        replica.ensure_connection()
    except DatabaseError as exc:
        breaker.record_failure(exc)
        return False
    breaker.record_success()
    routing.replica_checked = True
    return True


class ReplicaRouter:
    """Django database router (https://docs.djangoproject.com/en/5.2/topics/db/multi-db/#database-routers)."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        if model._meta.app_label not in settings.DATABASE_REPLICA_APPS or REPLICA not in connections:
            return PRIMARY
        if _primary_block.get() or current_read_routing().wrote or connections[PRIMARY].in_atomic_block:
            return PRIMARY
        return REPLICA if _replica_usable() else PRIMARY

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        pin_reads_to_primary()
        return PRIMARY

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # The replica holds the primary's rows: an object read there may relate to one read here.
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None  # a standby is read-only: it replays the primary's migrations


def _watch_replica_queries(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    try:
        return execute(sql, params, many, context)
    except (OperationalError, InterfaceError) as exc:
        # This query answers 503 (apps.core.api.problems); the next reads go to the primary.
        replica_breaker().record_failure(exc)
        raise


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **_: Any) -> None:
    if connection.alias == REPLICA:
        connection.execute_wrappers.append(_watch_replica_queries)


def connect_replica_watch() -> None:
    """A query that fails on the replica opens its breaker (CoreConfig.ready; idempotent)."""
    connection_created.connect(_on_connection_created, weak=False, dispatch_uid="core.replica_watch")
