"""The relay: publish pending outbox rows to the broker, mark them sent, back off on failure.

Rows are claimed with `SELECT ... FOR UPDATE SKIP LOCKED` in batches, so several relays
(the on-commit relay of each web process, beat's periodic task, `manage.py events_relay`)
share the work without publishing a row twice at the same time. SQLite has no row locks:
there the batch transaction itself (BEGIN IMMEDIATE, see project/backends.py) serialises relays.

Publishing happens before the row is marked sent, in the same transaction: a crash
between the two republishes the event later (at-least-once delivery); the consumers'
processed-event record makes the second delivery a no-op.

- Broker unreachable, before or in the middle of a run (connection refused or cut, a
  timeout, a channel error): nothing is counted against the rows (it is not their fault);
  the run stops, what was confirmed so far is marked sent, the rest waits for the next run.
- A row that fails on its own (the broker nacked its publish, it cannot be encoded, or,
  eagerly, its handler failed for good):
  `attempts` grows, `available_at` backs off exponentially with jitter, and after
  `EVENTS_RELAY_MAX_ATTEMPTS` the row is `dead`: visible in the admin, replayable with
  `manage.py events_dead_letters --replay ID`. Nothing is dropped silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import structlog
from amqp.exceptions import MessageNacked
from celery import states
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone
from kombu import Connection
from kombu.exceptions import OperationalError as BrokerOperationalError

from apps.core.breaker import Breaker, BreakerState
from apps.events.backoff import retry_delay
from apps.events.metrics import RELAYED
from apps.events.models import OutboxEvent, OutboxStatus, ProcessedEvent
from apps.events.tasks import deliver_event
from apps.events.topology import Topology, topology
from apps.observability.task_context import ACTOR_HEADER, REQUEST_ID_HEADER, TENANT_HEADER

__all__ = ["RelayReport", "broker_breaker", "broker_marked_down", "relay_outbox"]

logger = structlog.get_logger(__name__)
_UPDATED_FIELDS = ["status", "attempts", "available_at", "sent_at", "last_error"]


@dataclass
class RelayReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    broker_unavailable: bool = False

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


@cache
def broker_breaker() -> Breaker:
    """Open when a relay found the broker unreachable: on-commit relays skip the broker for
    `EVENTS_RELAY_INTERVAL` (no request waits on a dead broker); beat's relay and the command
    always try, and their success closes it."""
    return Breaker("event broker", cool_down=settings.EVENTS_RELAY_INTERVAL)


def broker_marked_down() -> bool:
    """Whether on-commit relays skip the broker now (inside the cool-down after a failure)."""
    return broker_breaker().state is BreakerState.OPEN


def relay_outbox(
    *,
    ids: Collection[uuid.UUID] | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    broker_url: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> RelayReport:
    """Publish pending rows that are due (only `ids`, if given), batch by batch, until none are left.

    With `task_always_eager` (no broker configured) each event goes through the same task,
    run in this process: its handler has run when this returns.
    """
    report = RelayReport()
    size = batch_size or settings.EVENTS_RELAY_BATCH_SIZE
    app = deliver_event.app
    if app.conf.task_always_eager:
        _relay_batches(None, report, ids=ids, size=size, max_batches=max_batches, using=using)
        return report
    connection = app.connection_for_write(broker_url or settings.CELERY_BROKER_URL)
    try:
        # One attempt bounded by CELERY_BROKER_CONNECTION_TIMEOUT (kombu's connect() retries
        # after a 2 s pause: 6 s against a black-holed broker); the next run is the retry.
        connection.ensure_connection(max_retries=0)
    except Exception as error:
        connection.collect()
        if not _broker_failed(error, connection):
            raise
        _broker_unavailable(report, error)
        return report
    try:
        producer = app.amqp.Producer(connection, auto_declare=False)
        _relay_batches(producer, report, ids=ids, size=size, max_batches=max_batches, using=using)
    finally:
        # A polite close waits for the broker's CloseOk, forever on one that stopped answering:
        # after a broker failure the socket is just dropped.
        if report.broker_unavailable:
            connection.collect()
        else:
            connection.release()
    if not report.broker_unavailable:
        broker_breaker().record_success()
    return report


def _broker_failed(error: BaseException, connection: Connection) -> bool:
    """Whether `error` says the broker (or the way to it) failed rather than the message being published.

    Connection errors, timeouts and channel errors say nothing about a row, whatever kombu
    wraps them in (its `OperationalError` carries the transport's error as the cause). A
    nack under publisher confirms is the broker refusing this one message: the row's own failure.
    """
    if any(isinstance(cause, MessageNacked) for cause in _causes(error)):
        return False
    transport_errors: tuple[type[BaseException], ...] = (*connection.connection_errors, *connection.channel_errors)
    return isinstance(error, (BrokerOperationalError, OSError, *transport_errors))


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _error_text(error: BaseException) -> str:
    """The error and its causes: kombu's wrapper alone often says nothing ("OperationalError: ")."""
    return "; ".join(f"{type(cause).__name__}: {cause}".removesuffix(": ") for cause in _causes(error))


def _broker_unavailable(report: RelayReport, error: BaseException) -> None:
    report.broker_unavailable = True
    broker_breaker().record_failure(error)
    RELAYED.labels("broker_unavailable").inc()
    logger.warning("events_relay_broker_unavailable", error=_error_text(error))


def _due(using: str, ids: Collection[uuid.UUID] | None, size: int) -> QuerySet[OutboxEvent]:
    rows = OutboxEvent.objects.using(using).filter(status=OutboxStatus.PENDING, available_at__lte=timezone.now())
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    if connections[using].features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    return rows.order_by("available_at", "id")[:size]


def _relay_batches(
    producer: Any,
    report: RelayReport,
    *,
    ids: Collection[uuid.UUID] | None,
    size: int,
    max_batches: int | None,
    using: str,
) -> None:
    plan = topology()
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        with transaction.atomic(using=using):
            rows = list(_due(using, ids, size))
            if not rows:
                return
            touched: list[OutboxEvent] = []
            for row in rows:
                if not _publish_row(row, producer, plan, report, using):
                    break
                touched.append(row)
            OutboxEvent.objects.using(using).bulk_update(touched, _UPDATED_FIELDS)
        if report.broker_unavailable or len(rows) < size:
            return


def _headers(row: OutboxEvent) -> dict[str, str]:
    # The row's context, not the relaying process's: the worker restores these (apps.observability).
    headers = {"event_id": str(row.id), "event_type": row.event_type}
    if row.request_id:
        headers[REQUEST_ID_HEADER] = row.request_id
    if row.actor:
        headers[ACTOR_HEADER] = row.actor
    if row.tenant_id is not None:
        headers[TENANT_HEADER] = str(row.tenant_id)
    return headers


def _publish_row(row: OutboxEvent, producer: Any, plan: Topology, report: RelayReport, using: str) -> bool:
    """Publish one row and record the outcome on it; False when the broker went away (stop the batch)."""
    message = row.to_event().to_message()
    options: dict[str, Any] = {"task_id": str(row.id), "headers": _headers(row), "args": (message,)}
    # Declared with the publish (cached per connection): a dead letter always has a queue to go to.
    options["declare"] = plan.declarations
    final = False
    if producer is None:
        failure, final = _deliver_eagerly(row, message, options, using)
    else:
        # A broker that stops answering mid-run must not hold this batch's row locks forever.
        options["confirm_timeout"] = settings.EVENTS_RELAY_PUBLISH_TIMEOUT
        try:
            deliver_event.apply_async(queue=plan.events_queue, producer=producer, retry=False, **options)
            failure = None
        except Exception as error:
            if _broker_failed(error, producer.connection):
                _broker_unavailable(report, error)
                return False
            failure = _error_text(error)  # nacked, or not encodable: this row's own failure
    now = timezone.now()
    row.attempts += 1
    if failure is None:
        row.status, row.sent_at, row.last_error = OutboxStatus.SENT, now, ""
        report.sent += 1
        RELAYED.labels("sent").inc()
    elif final or row.attempts >= settings.EVENTS_RELAY_MAX_ATTEMPTS:
        row.status, row.last_error = OutboxStatus.DEAD, failure
        report.dead += 1
        RELAYED.labels("dead").inc()
        logger.error("event_outbox_dead", event_id=str(row.id), event_type=row.event_type, error=failure)
    else:
        delay = retry_delay(row.attempts - 1, base=settings.EVENTS_RETRY_BACKOFF, cap=settings.EVENTS_RETRY_BACKOFF_MAX)
        row.available_at, row.last_error = now + timedelta(seconds=delay), failure
        report.retried += 1
        RELAYED.labels("retry").inc()
        logger.warning("event_outbox_retry", event_id=str(row.id), attempts=row.attempts, error=failure)
    return True


def _deliver_eagerly(
    row: OutboxEvent, message: dict[str, Any], options: dict[str, Any], using: str
) -> tuple[str | None, bool]:
    """Run the task in-process: (failure text or None, whether the failure is final).

    A transient handler error leaves the row pending with backoff (the relay retries it, as
    the broker would); a permanent one (the task rejected the event) makes the row dead.
    """
    try:
        options["throw"] = False
        result = deliver_event.apply_async(**options)
    except Exception as error:  # the task always ends in a result; this is a last line of defence
        return f"{type(error).__name__}: {error}", False
    if ProcessedEvent.objects.using(using).filter(event_id=row.id).exists():
        return None, False
    if result.state == states.SUCCESS:
        return "handler did not record the event", True
    state = str(result.state)
    return f"handler failed ({state}): {result.result!r}", state == states.REJECTED
