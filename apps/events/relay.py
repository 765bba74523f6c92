"""The relay: publish pending outbox rows to the broker, mark them sent, back off on failure.

Rows are claimed with `SELECT ... FOR UPDATE SKIP LOCKED` in batches, so several relays
(the on-commit relay of each web process, beat's periodic task, `manage.py events_relay`)
share the work without publishing a row twice at the same time. SQLite has no row locks:
there the batch transaction itself (BEGIN IMMEDIATE, see project/backends.py) serialises relays.

A batch is published with pipelined publisher confirms (`apps.events.publisher`): every
message goes out, then the batch waits once for the broker's acks, and one UPDATE marks the
confirmed rows sent, in the claiming transaction. A crash between the confirm and the commit
republishes the event later (at-least-once delivery); the consumers' processed-event record
makes the second delivery a no-op.

The message is the one `deliver_event.apply_async` would send (Celery's task protocol 2, built
by Celery's own `app.amqp.as_task_v2`), so any worker that consumes the events queue today
consumes it; only apply_async's per-call overhead (routing, signals, a producer per call) is
skipped.

- Broker unreachable, before or in the middle of a run (connection refused or cut, a
  timeout, a channel error): nothing is counted against the rows (it is not their fault);
  the run stops, the rows confirmed before the failure are marked sent, the unconfirmed
  rest waits for the next run.
- A row that fails on its own (the broker nacked its publish, it cannot be encoded, or,
  eagerly, its handler failed for good):
  `attempts` grows, `available_at` backs off exponentially with jitter, and after
  `EVENTS_RELAY_MAX_ATTEMPTS` the row is `dead`: visible in the admin, replayable with
  `manage.py events_dead_letters --replay ID`. Nothing is dropped silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

import structlog
from amqp.exceptions import MessageNacked
from celery import states
from celery.utils.nodenames import anon_nodename
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from kombu import Connection
from kombu.exceptions import OperationalError as BrokerOperationalError
from kombu.serialization import dumps

from apps.core.breaker import Breaker, BreakerState
from apps.events.backoff import retry_delay
from apps.events.metrics import BATCH_SIZE, CONFIRM_LATENCY, RELAYED
from apps.events.models import OutboxEvent, OutboxStatus, ProcessedEvent
from apps.events.publisher import Confirm, ConfirmedPublisher, OutgoingMessage
from apps.events.tasks import DELIVER_TASK, deliver_event
from apps.events.topology import Topology, topology
from apps.observability.task_context import ACTOR_HEADER, REQUEST_ID_HEADER, TENANT_HEADER

__all__ = ["RelayReport", "broker_breaker", "broker_marked_down", "connected_publisher", "relay_outbox"]

logger = structlog.get_logger(__name__)
_FAILED_FIELDS = ["status", "attempts", "available_at", "last_error"]
_NACKED = "MessageNacked: the broker refused the message (basic.nack)"


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
    publisher: ConfirmedPublisher | None = None,
) -> RelayReport:
    """Publish pending rows that are due (only `ids`, if given), batch by batch, until none are left.

    `publisher` (from `connected_publisher()`) keeps one connection across runs, as the
    `events_relay` loop does; without it the run opens and closes its own. A publisher that
    failed (`report.broker_unavailable`) must not be used again.

    With `task_always_eager` (no broker configured) each event goes through the same task,
    run in this process: its handler has run when this returns.
    """
    report = RelayReport()
    size = batch_size or settings.EVENTS_RELAY_BATCH_SIZE
    if deliver_event.app.conf.task_always_eager:
        _relay_batches(None, report, ids=ids, size=size, max_batches=max_batches, using=using)
        return report
    if publisher is not None:
        _relay_batches(publisher, report, ids=ids, size=size, max_batches=max_batches, using=using)
    else:
        with connected_publisher(report, broker_url=broker_url) as own:
            if own is not None:
                _relay_batches(own, report, ids=ids, size=size, max_batches=max_batches, using=using)
    if not report.broker_unavailable:
        broker_breaker().record_success()
    return report


@contextmanager
def connected_publisher(report: RelayReport, *, broker_url: str | None = None) -> Iterator[ConfirmedPublisher | None]:
    """A publisher on a new broker connection, or None (and `report.broker_unavailable`) if none opens.

    One attempt bounded by CELERY_BROKER_CONNECTION_TIMEOUT (kombu's connect() retries after a
    2 s pause: 6 s against a black-holed broker); the next run is the retry.
    """
    app = deliver_event.app
    # Confirms are tracked per batch by the publisher: py-amqp must not wait for each message's.
    connection = app.connection_for_write(
        broker_url or settings.CELERY_BROKER_URL, transport_options={"confirm_publish": False}
    )
    try:
        connection.ensure_connection(max_retries=0)
    except Exception as error:
        connection.collect()
        if not _broker_failed(error, connection):
            raise
        _broker_unavailable(report, error)
        yield None
        return
    publisher = ConfirmedPublisher(connection, declarations=topology().declarations)
    try:
        yield publisher
    finally:
        # A polite close waits for the broker's CloseOk, forever on one that stopped answering:
        # after a broker failure the socket is just dropped.
        if report.broker_unavailable or publisher.failed:
            connection.collect()
        else:
            connection.release()


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


@dataclass
class _Outcomes:
    """What one batch did to its rows; a row in neither list is left as it was (not its fault)."""

    sent: list[OutboxEvent] = field(default_factory=list)
    failed: list[tuple[OutboxEvent, str, bool]] = field(default_factory=list)  # row, error, final


def _relay_batches(
    publisher: ConfirmedPublisher | None,
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
            BATCH_SIZE.observe(len(rows))
            if publisher is None:
                outcomes = _deliver_batch_eagerly(rows, using)
            else:
                outcomes = _publish_batch(rows, publisher, plan, report)
            _record(outcomes, report, using)
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


@cache
def _origin() -> str:
    return anon_nodename()


def task_message(row: OutboxEvent, plan: Topology) -> OutgoingMessage:
    """The message `deliver_event.apply_async(args=(event,), task_id=row.id, headers=...)` sends.

    Celery's own protocol-2 builder makes headers, properties and body; the row's context
    headers are merged into the task headers as apply_async merges its `headers` option.
    """
    task_id = str(row.id)
    headers, properties, body, _ = deliver_event.app.amqp.as_task_v2(
        task_id,
        DELIVER_TASK,
        args=(row.to_event().to_message(),),
        kwargs={},
        ignore_result=deliver_event.ignore_result,
        time_limit=deliver_event.time_limit,
        soft_time_limit=deliver_event.soft_time_limit,
        # Shown by monitoring tools instead of the whole payload (saferepr of it costs more than the publish).
        argsrepr=f"({row.event_type} {task_id})",
        kwargsrepr="{}",
        origin=_origin(),
    )
    headers.update(_headers(row))
    content_type, content_encoding, data = dumps(body, serializer="json")
    properties.update(content_type=content_type, content_encoding=content_encoding, delivery_mode=2, priority=0)
    queue = plan.events_queue
    if queue.exchange is None or queue.exchange.type == "direct":
        # As Celery routes a task to a direct queue: the default exchange, the queue's name.
        exchange, routing_key = "", str(queue.name)
    else:
        exchange, routing_key = str(queue.exchange.name), str(queue.routing_key)
    return OutgoingMessage(
        body=data.encode() if isinstance(data, str) else data,
        headers=headers,
        properties=properties,
        exchange=exchange,
        routing_key=routing_key,
    )


def _publish_batch(
    rows: list[OutboxEvent], publisher: ConfirmedPublisher, plan: Topology, report: RelayReport
) -> _Outcomes:
    outcomes = _Outcomes()
    messages: list[OutgoingMessage] = []
    published: list[OutboxEvent] = []
    for row in rows:
        try:
            messages.append(task_message(row, plan))
        except (TypeError, ValueError) as error:  # cannot be encoded: this row's own failure
            outcomes.failed.append((row, _error_text(error), False))
            continue
        published.append(row)
    # A broker that stops answering mid-batch must not hold this batch's row locks for long.
    result = publisher.publish(messages, timeout=settings.EVENTS_RELAY_PUBLISH_TIMEOUT)
    if messages and result.error is None:
        CONFIRM_LATENCY.observe(result.confirm_seconds)
    for row, confirm in zip(published, result.outcomes, strict=True):
        if confirm is Confirm.CONFIRMED:
            outcomes.sent.append(row)
        elif confirm is Confirm.NACKED:
            outcomes.failed.append((row, _NACKED, False))
    if result.error is not None:
        if not _broker_failed(result.error, publisher.connection):
            raise result.error
        _broker_unavailable(report, result.error)
    return outcomes


def _record(outcomes: _Outcomes, report: RelayReport, using: str) -> None:
    """One UPDATE for the rows sent; the failed ones (rare) each get their own backoff."""
    now = timezone.now()
    if outcomes.sent:
        OutboxEvent.objects.using(using).filter(pk__in=[row.pk for row in outcomes.sent]).update(
            status=OutboxStatus.SENT, sent_at=now, last_error="", attempts=F("attempts") + 1
        )
        report.sent += len(outcomes.sent)
        RELAYED.labels("sent").inc(len(outcomes.sent))
    failed: list[OutboxEvent] = []
    for row, failure, final in outcomes.failed:
        row.attempts += 1
        row.last_error = failure
        if final or row.attempts >= settings.EVENTS_RELAY_MAX_ATTEMPTS:
            row.status = OutboxStatus.DEAD
            report.dead += 1
            RELAYED.labels("dead").inc()
            logger.error("event_outbox_dead", event_id=str(row.id), event_type=row.event_type, error=failure)
        else:
            base, cap = settings.EVENTS_RETRY_BACKOFF, settings.EVENTS_RETRY_BACKOFF_MAX
            row.available_at = now + timedelta(seconds=retry_delay(row.attempts - 1, base=base, cap=cap))
            report.retried += 1
            RELAYED.labels("retry").inc()
            logger.warning("event_outbox_retry", event_id=str(row.id), attempts=row.attempts, error=failure)
        failed.append(row)
    if failed:
        OutboxEvent.objects.using(using).bulk_update(failed, _FAILED_FIELDS)


def _deliver_batch_eagerly(rows: list[OutboxEvent], using: str) -> _Outcomes:
    outcomes = _Outcomes()
    for row in rows:
        failure, final = _deliver_eagerly(row, using)
        if failure is None:
            outcomes.sent.append(row)
        else:
            outcomes.failed.append((row, failure, final))
    return outcomes


def _deliver_eagerly(row: OutboxEvent, using: str) -> tuple[str | None, bool]:
    """Run the task in-process: (failure text or None, whether the failure is final).

    A transient handler error leaves the row pending with backoff (the relay retries it, as
    the broker would); a permanent one (the task rejected the event) makes the row dead.
    """
    try:
        # `throw=False` (an option of eager apply, not in the stubs): the failure comes back as the result.
        options: dict[str, Any] = {"throw": False, "headers": _headers(row)}
        result = deliver_event.apply_async(args=(row.to_event().to_message(),), task_id=str(row.id), **options)
    except Exception as error:  # the task always ends in a result; this is a last line of defence
        return f"{type(error).__name__}: {error}", False
    if ProcessedEvent.objects.using(using).filter(event_id=row.id).exists():
        return None, False
    if result.state == states.SUCCESS:
        return "handler did not record the event", True
    state = str(result.state)
    return f"handler failed ({state}): {result.result!r}", state == states.REJECTED
