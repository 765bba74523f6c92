"""The relay: batches, backoff, dead rows, and row locks that let several relays share the outbox."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from kombu import Connection, Queue
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.events import Event, publish, relay
from apps.events.consumer import consume
from apps.events.models import OutboxEvent, OutboxStatus, ProcessedEvent
from apps.events.relay import RelayReport, _due, broker_marked_down, relay_outbox
from apps.events.tasks import DELIVER_TASK
from apps.events.topology import topology
from tests.broker_channel import amqp_channel, queue_depth
from tests.events.handlers import BROKEN, FLAKY, RECORD, effects, failure_switch
from tests.processes import TcpProxy
from tests.testapp.models import Label

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


@pytest.fixture(autouse=True)
def _no_relay_on_commit(settings: SettingsWrapper) -> None:
    settings.EVENTS_RELAY_ON_COMMIT = False  # each test drives the relay itself
    settings.EVENTS_RETRY_BACKOFF = 10.0
    settings.EVENTS_RETRY_BACKOFF_MAX = 60.0


def test_the_relay_publishes_in_batches_in_order() -> None:
    events = [publish(RECORD, aggregate="a", aggregate_id=n, payload={}) for n in range(7)]
    report = relay_outbox(batch_size=3, max_batches=2)
    assert report.sent == 6
    assert [effects(event) for event in events] == [1] * 6 + [0], "oldest first"
    assert relay_outbox(batch_size=3).sent == 1


def test_a_transient_failure_backs_off_then_the_row_dies_after_max_attempts(settings: SettingsWrapper) -> None:
    settings.EVENTS_RELAY_MAX_ATTEMPTS = 3
    Label.objects.create(name=failure_switch("x"))
    event = publish(FLAKY, aggregate="a", aggregate_id="x", payload={})
    before = timezone.now()
    assert relay_outbox().retried == 1
    row = OutboxEvent.objects.get(pk=event.id)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert before + timedelta(seconds=5) <= row.available_at <= before + timedelta(seconds=11), "10 s, jittered"
    assert "TransientError" in row.last_error
    assert relay_outbox().retried == 0, "not due yet"
    for expected in (OutboxStatus.PENDING, OutboxStatus.DEAD):
        OutboxEvent.objects.filter(pk=event.id).update(available_at=timezone.now())
        relay_outbox()
        assert OutboxEvent.objects.get(pk=event.id).status == expected
    assert OutboxEvent.objects.get(pk=event.id).attempts == 3


def test_a_permanent_failure_makes_the_row_dead_at_once() -> None:
    event = publish(BROKEN, aggregate="a", aggregate_id=1, payload={})
    assert relay_outbox().dead == 1
    row = OutboxEvent.objects.get(pk=event.id)
    assert (row.status, row.attempts) == (OutboxStatus.DEAD, 1)
    assert "PermanentError" in row.last_error


def test_an_unknown_event_type_is_dead_not_dropped() -> None:
    event = publish("test.events.nobody", aggregate="a", aggregate_id=1, payload={})
    relay_outbox()
    row = OutboxEvent.objects.get(pk=event.id)
    assert row.status == OutboxStatus.DEAD
    assert "no handler" in row.last_error


def test_rows_locked_by_one_relay_are_skipped_by_another(postgres: None) -> None:
    assert connection.features.has_select_for_update_skip_locked
    first = publish(RECORD, aggregate="a", aggregate_id=1, payload={})
    second = publish(RECORD, aggregate="a", aggregate_id=2, payload={})
    locked = threading.Event()
    release = threading.Event()

    def other_relay() -> None:  # holds the first row as a relay in the middle of its batch would
        with transaction.atomic():
            assert [row.id for row in _due("default", None, 1)] == [first.id]
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_relay)
    thread.start()
    try:
        assert locked.wait(10)
        report = relay_outbox()
        assert report.sent == 1
        assert (effects(first), effects(second)) == (0, 1)
    finally:
        release.set()
        thread.join(10)
    assert relay_outbox().sent == 1
    assert effects(first) == 1


class CuttingProxy(TcpProxy):
    """A proxy to RabbitMQ that cuts (or black-holes) itself once `after` task messages went through.

    It counts the task name in what the relay writes, so the outage lands in the middle of a
    batch of a known run, however fast the relay is; the chunk that crosses the count is not
    forwarded.
    """

    def __init__(self, target: tuple[str, int], *, after: int, stall: bool = False) -> None:
        super().__init__(target)
        self.after, self.stall_instead = after, stall
        self.forwarded = 0
        self.tripped = False

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            to_broker = sink.getpeername()[1] == self.target[1]
        except OSError:
            return
        if not to_broker:
            super()._pipe(source, sink)
            return
        try:
            while data := source.recv(65536):
                self.forwarded += data.count(DELIVER_TASK.encode())
                if not self.tripped and self.forwarded >= self.after:
                    self.tripped = True
                    if not self.stall_instead:
                        self.stop()
                        return
                    self.stall()
                if not self._stalled:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()


@pytest.fixture
def cutting_proxy(broker_url: str) -> Iterator[Callable[..., CuttingProxy]]:
    proxies: list[CuttingProxy] = []

    def make(*, after: int, stall: bool = False) -> CuttingProxy:
        proxy = CuttingProxy(("127.0.0.1", Connection(broker_url).port or 5672), after=after, stall=stall)
        proxy.start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


def _drain(broker_url: str, name: str) -> list[Event]:
    """Every event message in the queue, taken off it (acknowledged)."""
    events: list[Event] = []
    with Connection(broker_url, connect_timeout=5) as broker:
        channel = amqp_channel(broker.channel())
        while (message := channel.basic_get(name, no_ack=True)) is not None:
            args, _, _ = json.loads(message.body)
            events.append(Event.from_message(args[0]))
        channel.close()
    return events


def test_a_connection_cut_mid_batch_fails_no_row_and_every_event_has_its_effect_once_when_the_broker_returns(
    broker_url: str,
    event_queues: dict[str, str],
    cutting_proxy: Callable[..., CuttingProxy],
    settings: SettingsWrapper,
) -> None:
    settings.EVENTS_RETRY_BACKOFF = 0.01  # a row wrongly failed would be due again within this run
    count, batch = 2000, 500
    with transaction.atomic():
        events = [publish(RECORD, aggregate="a", aggregate_id=n, payload={}) for n in range(count)]
    cut_at = 1200  # in the third batch, while its messages are being written
    proxy = cutting_proxy(after=cut_at)
    via_proxy = proxy.url(broker_url)

    report = relay_outbox(broker_url=via_proxy, batch_size=batch)

    assert report.broker_unavailable
    assert (report.retried, report.dead) == (0, 0), "a lost connection is no row's failure"
    # The two batches before the cut are confirmed; of the cut one, only what the broker confirmed
    # before the connection went (its `multiple` acks can race the cut), never a row past the cut.
    assert 2 * batch <= report.sent < cut_at, "confirmed rows are sent, unconfirmed ones stay pending"
    statuses = Counter(OutboxEvent.objects.values_list("status", "attempts"))
    assert statuses == {(OutboxStatus.SENT, 1): report.sent, (OutboxStatus.PENDING, 0): count - report.sent}
    assert broker_marked_down(), "on-commit relays back off"

    proxy.start()
    again = relay_outbox(broker_url=via_proxy, batch_size=batch)
    assert (again.sent, again.retried, again.dead, again.broker_unavailable) == (count - report.sent, 0, 0, False)
    assert not OutboxEvent.objects.exclude(status=OutboxStatus.SENT).exists()

    delivered = _drain(broker_url, event_queues["EVENTS_QUEUE"])
    with transaction.atomic():  # one commit for the lot (speed); each delivery is its own savepoint
        outcomes = Counter(consume(event) for event in delivered)  # the idempotent consumer a worker runs
    assert outcomes["handled"] == count
    assert outcomes["duplicate"] < batch, "only what reached the broker unconfirmed in the cut batch comes twice"
    assert {event.id for event in delivered} == {event.id for event in events}
    assert Label.objects.count() == ProcessedEvent.objects.count() == count, "each effect exactly once"


def test_a_broker_that_stops_answering_mid_batch_fails_no_row_and_the_run_ends(
    broker_url: str, event_queues: dict[str, str], cutting_proxy: Callable[..., CuttingProxy], settings: SettingsWrapper
) -> None:
    settings.EVENTS_RELAY_PUBLISH_TIMEOUT = 1.0
    count, batch = 300, 50
    with transaction.atomic():
        for n in range(count):
            publish(RECORD, aggregate="a", aggregate_id=n, payload={})
    stall_at = 120
    proxy = cutting_proxy(after=stall_at, stall=True)  # connected, but nothing comes back: no confirm, ever

    report = relay_outbox(broker_url=proxy.url(broker_url), batch_size=batch)  # returns: its row locks are released

    assert report.broker_unavailable
    assert (report.retried, report.dead) == (0, 0)
    assert 2 * batch <= report.sent < stall_at, "what the broker confirmed before it went silent, nothing after"
    assert not OutboxEvent.objects.filter(status=OutboxStatus.PENDING).exclude(attempts=0).exists()

    proxy.start()
    again = relay_outbox(broker_url=proxy.url(broker_url), batch_size=batch)
    assert (again.sent, again.broker_unavailable) == (count - report.sent, False)


def test_a_channel_error_fails_no_row(broker_url: str, event_queues: dict[str, str]) -> None:
    # The events queue exists with other arguments (a deployment mistake): every declare and
    # publish on it is refused with a channel error, whatever the message.
    name = event_queues["EVENTS_QUEUE"]
    with Connection(broker_url, connect_timeout=5) as broker:
        channel = broker.default_channel
        amqp_channel(channel).queue_delete(name)
        Queue(name, routing_key=name, durable=True)(channel).declare()
    events = [publish(RECORD, aggregate="a", aggregate_id=n, payload={}) for n in range(3)]
    report = relay_outbox()
    assert report.broker_unavailable
    assert (report.sent, report.retried, report.dead) == (0, 0, 0)
    rows = OutboxEvent.objects.filter(pk__in=[event.id for event in events])
    assert {(row.status, row.attempts) for row in rows} == {(OutboxStatus.PENDING, 0)}


def test_a_publish_the_broker_nacks_is_that_rows_failed_attempt(
    broker_url: str, event_queues: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The events go to a queue that refuses every message: RabbitMQ nacks each publish.
    plan = topology()
    full = Queue(
        f"{event_queues['EVENTS_QUEUE']}-full",
        queue_arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
        auto_delete=True,
    )
    monkeypatch.setattr(relay, "topology", lambda: dataclasses.replace(plan, events_queue=full))
    events = [publish(RECORD, aggregate="a", aggregate_id=n, payload={}) for n in range(3)]
    try:
        report = relay_outbox()
    finally:
        with Connection(broker_url, connect_timeout=5) as broker:
            full(broker.default_channel).delete()
    assert (report.sent, report.retried, report.broker_unavailable) == (0, 3, False)
    rows = OutboxEvent.objects.filter(pk__in=[event.id for event in events])
    assert {(row.status, row.attempts) for row in rows} == {(OutboxStatus.PENDING, 1)}
    assert all("nack" in row.last_error.lower() for row in rows), [row.last_error for row in rows]
    assert not broker_marked_down(), "the broker answered: it is up"


def _full_queue(event_queues: dict[str, str], length: int) -> Queue:
    return Queue(
        f"{event_queues['EVENTS_QUEUE']}-full",
        queue_arguments={"x-max-length": length, "x-overflow": "reject-publish"},
        auto_delete=True,
    )


def test_a_nack_in_a_batch_fails_only_its_row(
    broker_url: str, event_queues: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A queue that takes three messages and refuses the rest: RabbitMQ acks three, nacks two, in one batch.
    full = _full_queue(event_queues, 3)
    plan = topology()
    monkeypatch.setattr(relay, "topology", lambda: dataclasses.replace(plan, events_queue=full))
    events = [publish(RECORD, aggregate="a", aggregate_id=n, payload={}) for n in range(5)]
    try:
        report = relay_outbox(batch_size=10)
        depth = _depth(broker_url, full.name)
    finally:
        with Connection(broker_url, connect_timeout=5) as broker:
            full(broker.default_channel).delete()
    assert (report.sent, report.retried, report.dead, report.broker_unavailable) == (3, 2, 0, False)
    assert depth == 3
    rows = [OutboxEvent.objects.get(pk=event.id) for event in events]
    assert [(row.status, row.attempts) for row in rows] == [(OutboxStatus.SENT, 1)] * 3 + [
        (OutboxStatus.PENDING, 1)
    ] * 2
    assert all("nack" in row.last_error.lower() for row in rows[3:])
    assert all(row.available_at > timezone.now() for row in rows[3:]), "backed off"


def _depth(broker_url: str, name: str) -> int:
    with Connection(broker_url, connect_timeout=5) as broker:
        return queue_depth(broker.default_channel, name)


def test_two_relays_in_parallel_never_publish_the_same_row(
    postgres: None, broker_url: str, event_queues: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 3000
    with transaction.atomic():
        events = [publish(RECORD, aggregate="a", aggregate_id=n, payload={}) for n in range(count)]
    start = threading.Barrier(2, timeout=30)
    # Each relay's first batch waits, rows still locked and published, until the other's first batch is
    # there too: both are at work at once (one cannot drain everything first on a lucky schedule).
    first_batches = threading.Barrier(2, timeout=30)
    seen: set[int] = set()
    record = relay._record

    def record_then_meet(*args: Any, **kwargs: Any) -> None:
        record(*args, **kwargs)
        if threading.get_ident() not in seen:
            seen.add(threading.get_ident())
            first_batches.wait()

    monkeypatch.setattr(relay, "_record", record_then_meet)
    reports: list[RelayReport] = []

    def run_relay() -> None:
        start.wait()
        try:
            reports.append(relay_outbox(batch_size=100))
        finally:
            connection.close()

    threads = [threading.Thread(target=run_relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert len(reports) == 2
    assert all(report.sent > 0 for report in reports), "both relays took part"
    assert sum(report.sent for report in reports) == count
    published = Counter(event.id for event in _drain(broker_url, event_queues["EVENTS_QUEUE"]))
    assert set(published) == {event.id for event in events}
    assert set(published.values()) == {1}, "no row was published by both"
    assert not OutboxEvent.objects.exclude(status=OutboxStatus.SENT, attempts=1).exists()
