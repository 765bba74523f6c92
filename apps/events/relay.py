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
from datetime import datetime, timedelta
from functools import cache
from struct import pack
from typing import Any, NamedTuple

import amqp
import structlog
from amqp.exceptions import MessageNacked
from amqp.serialization import dumps as amqp_dumps
from celery import states
from celery.utils.nodenames import anon_nodename
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F
from django.utils import timezone
from kombu import Connection
from kombu.exceptions import OperationalError as BrokerOperationalError
from kombu.serialization import dumps

from apps.core.breaker import Breaker, BreakerState
from apps.events.backoff import retry_delay
from apps.events.event import Event, Payload
from apps.events.metrics import BATCH_SIZE, CONFIRM_LATENCY, RELAYED
from apps.events.models import OutboxEvent, OutboxStatus, ProcessedEvent, event_of
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


# What the relay reads of a claimed row: plain values (no model instances), in this order.
_ROW_FIELDS = (
    "id", "event_type", "version", "occurred_at", "aggregate", "aggregate_id",
    "payload", "actor", "tenant_id", "request_id", "attempts",
)  # fmt: skip


class _Row(NamedTuple):
    """A claimed outbox row, as read by `values_list`."""

    id: uuid.UUID
    event_type: str
    version: int
    occurred_at: datetime
    aggregate: str
    aggregate_id: str
    payload: Payload
    actor: str
    tenant_id: uuid.UUID | None
    request_id: str
    attempts: int

    def to_event(self) -> Event:
        return event_of(*self[:-1])  # every column but `attempts`


def _due(using: str, ids: Collection[uuid.UUID] | None, size: int) -> list[_Row]:
    rows = OutboxEvent.objects.using(using).filter(status=OutboxStatus.PENDING, available_at__lte=timezone.now())
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    if connections[using].features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    return [_Row(*values) for values in rows.order_by("available_at", "id").values_list(*_ROW_FIELDS)[:size]]


@dataclass
class _Outcomes:
    """What one batch did to its rows; a row in neither list is left as it was (not its fault)."""

    sent: list[_Row] = field(default_factory=list)
    failed: list[tuple[_Row, str, bool]] = field(default_factory=list)  # row, error, final


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
            rows = _due(using, ids, size)
            if not rows:
                return
            BATCH_SIZE.observe(len(rows))
            if publisher is None:
                outcomes = _deliver_batch_eagerly(rows, using)
            else:
                outcomes = _publish_batch(rows, publisher, _template(plan), report)
            _record(outcomes, report, using)
        if report.broker_unavailable or len(rows) < size:
            return


def _headers(row: _Row) -> dict[str, str]:
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


def _celery_message(task_id: str, row: _Row) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Headers, properties and body of Celery's own protocol-2 builder for the row's task."""
    headers, properties, body, _ = deliver_event.app.amqp.as_task_v2(
        task_id,
        DELIVER_TASK,
        args=(row.to_event().to_message(),),
        kwargs={},
        ignore_result=deliver_event.ignore_result,
        time_limit=deliver_event.time_limit,
        soft_time_limit=deliver_event.soft_time_limit,
        # Shown by monitoring tools instead of the whole payload (saferepr of it costs more than the publish).
        argsrepr=_argsrepr(row),
        kwargsrepr="{}",
        origin=_origin(),
    )
    return headers, properties, body


def _argsrepr(row: _Row) -> str:
    return f"({row.event_type} {row.id})"


def _route(plan: Topology) -> tuple[str, str]:
    queue = plan.events_queue
    if queue.exchange is None or queue.exchange.type == "direct":
        # As Celery routes a task to a direct queue: the default exchange, the queue's name.
        return "", str(queue.name)
    return str(queue.exchange.name), str(queue.routing_key)


def _encoded_body(body: Any) -> bytes:
    _, _, data = dumps(body, serializer="json")
    return data.encode() if isinstance(data, str) else data


def task_message(row: _Row, plan: Topology) -> OutgoingMessage:
    """The message `deliver_event.apply_async(args=(event,), task_id=row.id, headers=...)` sends.

    Celery's own protocol-2 builder makes headers, properties and body, and py-amqp encodes
    them; the row's context headers are merged into the task headers as apply_async merges its
    `headers` option. The reference for `_MessageTemplate`, which the relay uses.
    """
    headers, properties, body = _celery_message(str(row.id), row)
    headers.update(_headers(row))
    content_type, content_encoding, _ = dumps(body, serializer="json")
    properties.update(content_type=content_type, content_encoding=content_encoding, delivery_mode=2, priority=0)
    exchange, routing_key = _route(plan)
    return OutgoingMessage.encode(
        _encoded_body(body), headers=headers, properties=properties, exchange=exchange, routing_key=routing_key
    )


# The protocol-2 headers that differ between two events' tasks (all str); the rest is the same for every event.
_PER_MESSAGE_HEADERS = frozenset({"id", "root_id", "argsrepr"})


def _string_entry(key: str, value: str) -> bytes:
    """One field-table entry with a long-string value, as py-amqp's `_write_table` writes it."""
    name, data = key.encode(), value.encode("utf-8", "surrogatepass")
    return pack(">B", len(name)) + name + b"S" + pack(">I", len(data)) + data


class _MessageTemplate:
    """`task_message()` at a fraction of its cost: Celery's header table is encoded once per batch.

    Celery's builder runs once, for a sample task; py-amqp encodes the parts that are the same
    for every event (the static header entries, in Celery's order, and the static properties).
    Per event only the task id, `argsrepr`, the row's context headers and the body are encoded,
    and spliced between them: the bytes on the wire are those of `task_message()` (a test
    compares them), which is what the workers consume.
    """

    def __init__(self, plan: Topology) -> None:
        sample = _Row(uuid.UUID(int=0), "sample", 1, timezone.now(), "", "", {}, "", None, "", 0)
        headers, properties, body = _celery_message(str(sample.id), sample)
        self._embed = body[2]  # callbacks, errbacks, chain, chord: none for an event
        content_type, content_encoding, _ = dumps(body, serializer="json")
        properties.update(content_type=content_type, content_encoding=content_encoding, delivery_mode=2, priority=0)
        self.exchange, self.routing_key = _route(plan)
        # Runs of static header entries (encoded) and the per-message names between them.
        self._table: list[bytes | str] = []
        static: dict[str, Any] = {}
        for key, value in headers.items():
            if key in _PER_MESSAGE_HEADERS:
                if static:
                    self._table.append(amqp_dumps("F", (static,))[4:])  # the entries, without the length
                    static = {}
                self._table.append(key)
            else:
                static[key] = value
        if static:
            self._table.append(amqp_dumps("F", (static,))[4:])
        # The property list around the headers and the correlation id (the task id), in AMQP's order.
        flags, self._before, self._between, self._after = 0, b"", b"", b""
        place = "before"
        for shift, (key, kind) in zip(range(15, -1, -1), amqp.Message.PROPERTIES, strict=False):
            value = headers if key == "application_headers" else properties.get(key)
            if value is None:
                continue
            flags |= 1 << shift
            if key == "application_headers":
                place = "between"
            elif key == "correlation_id":
                place = "after"
            else:
                setattr(self, f"_{place}", getattr(self, f"_{place}") + amqp_dumps(kind, (value,)))
        self._flags = pack(">H", flags)

    def message(self, row: _Row) -> OutgoingMessage:
        task_id = str(row.id)
        per_message = {"id": task_id, "root_id": task_id, "argsrepr": _argsrepr(row)}
        entries = [part if isinstance(part, bytes) else _string_entry(part, per_message[part]) for part in self._table]
        entries += [_string_entry(key, value) for key, value in _headers(row).items()]
        table = b"".join(entries)
        correlation_id = task_id.encode()
        properties = b"".join(
            (
                self._flags,
                self._before,
                pack(">I", len(table)),
                table,
                self._between,
                pack(">B", len(correlation_id)),
                correlation_id,
                self._after,
            )
        )
        body = _encoded_body(((row.to_event().to_message(),), {}, self._embed))
        return OutgoingMessage(body=body, properties=properties, exchange=self.exchange, routing_key=self.routing_key)


_templates: dict[tuple[object, ...], _MessageTemplate] = {}


def _template(plan: Topology) -> _MessageTemplate:
    """The template for this route and task options, built once (~0.5 ms: the loop makes 100s of passes a second)."""
    key = (*_route(plan), deliver_event.ignore_result, deliver_event.time_limit, deliver_event.soft_time_limit)
    template = _templates.get(key)
    if template is None:
        _templates.clear()  # one entry: settings change only in tests
        template = _templates[key] = _MessageTemplate(plan)
    return template


def _publish_batch(
    rows: list[_Row], publisher: ConfirmedPublisher, template: _MessageTemplate, report: RelayReport
) -> _Outcomes:
    outcomes = _Outcomes()
    messages: list[OutgoingMessage] = []
    published: list[_Row] = []
    for row in rows:
        try:
            messages.append(template.message(row))
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
        OutboxEvent.objects.using(using).filter(pk__in=[row.id for row in outcomes.sent]).update(
            status=OutboxStatus.SENT, sent_at=now, last_error="", attempts=F("attempts") + 1
        )
        report.sent += len(outcomes.sent)
        RELAYED.labels("sent").inc(len(outcomes.sent))
    dead: list[OutboxEvent] = []
    retried: list[OutboxEvent] = []
    for claimed, failure, final in outcomes.failed:
        row = OutboxEvent(id=claimed.id, event_type=claimed.event_type, attempts=claimed.attempts + 1)
        row.last_error = failure
        if final or row.attempts >= settings.EVENTS_RELAY_MAX_ATTEMPTS:
            row.status = OutboxStatus.DEAD
            report.dead += 1
            RELAYED.labels("dead").inc()
            logger.error("event_outbox_dead", event_id=str(row.id), event_type=row.event_type, error=failure)
            dead.append(row)
        else:
            base, cap = settings.EVENTS_RETRY_BACKOFF, settings.EVENTS_RETRY_BACKOFF_MAX
            row.status = OutboxStatus.PENDING
            row.available_at = now + timedelta(seconds=retry_delay(row.attempts - 1, base=base, cap=cap))
            report.retried += 1
            RELAYED.labels("retry").inc()
            logger.warning("event_outbox_retry", event_id=str(row.id), attempts=row.attempts, error=failure)
            retried.append(row)
    # A dead row keeps its `available_at` (when it was last due); a retried one is due after its backoff.
    if dead:
        OutboxEvent.objects.using(using).bulk_update(dead, ["status", "attempts", "last_error"])
    if retried:
        OutboxEvent.objects.using(using).bulk_update(retried, _FAILED_FIELDS)


def _deliver_batch_eagerly(rows: list[_Row], using: str) -> _Outcomes:
    outcomes = _Outcomes()
    for row in rows:
        failure, final = _deliver_eagerly(row, using)
        if failure is None:
            outcomes.sent.append(row)
        else:
            outcomes.failed.append((row, failure, final))
    return outcomes


def _deliver_eagerly(row: _Row, using: str) -> tuple[str | None, bool]:
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
