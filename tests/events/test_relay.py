"""The relay: batches, backoff, dead rows, and row locks that let several relays share the outbox."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from kombu import Connection, Queue
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.events import Event, publish, relay
from apps.events.consumer import consume
from apps.events.models import OutboxEvent, OutboxStatus, ProcessedEvent
from apps.events.relay import _due, broker_marked_down, relay_outbox
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
            assert [row.pk for row in _due("default", None, 1)] == [first.id]
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


def _queue_depth(broker_url: str, name: str) -> int:
    with Connection(broker_url, connect_timeout=5) as broker:
        return queue_depth(broker.default_channel, name)


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


def test_a_connection_cut_mid_run_fails_no_row_and_every_event_is_delivered_once_when_the_broker_returns(
    broker_url: str, event_queues: dict[str, str], broker_proxy: TcpProxy, settings: SettingsWrapper
) -> None:
    settings.EVENTS_RETRY_BACKOFF = 0.01  # a row wrongly failed would be due again within this run
    count = 2000
    with transaction.atomic():
        events = [publish(RECORD, aggregate="a", aggregate_id=n, payload={}) for n in range(count)]
    via_proxy = broker_proxy.url(broker_url)

    def cut_once_some_are_sent() -> None:
        deadline = time.monotonic() + 60
        while _queue_depth(broker_url, event_queues["EVENTS_QUEUE"]) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        broker_proxy.stop()

    cutter = threading.Thread(target=cut_once_some_are_sent)
    cutter.start()
    report = relay_outbox(broker_url=via_proxy)
    cutter.join(60)

    assert report.broker_unavailable
    assert (report.retried, report.dead) == (0, 0), "a lost connection is no row's failure"
    assert 200 <= report.sent < count, "the cut came in the middle of the run"
    statuses = Counter(OutboxEvent.objects.values_list("status", "attempts"))
    assert statuses == {(OutboxStatus.SENT, 1): report.sent, (OutboxStatus.PENDING, 0): count - report.sent}
    assert broker_marked_down(), "on-commit relays back off"

    broker_proxy.start()
    again = relay_outbox(broker_url=via_proxy)
    assert (again.sent, again.retried, again.dead, again.broker_unavailable) == (count - report.sent, 0, 0, False)
    assert not OutboxEvent.objects.exclude(status=OutboxStatus.SENT).exists()

    delivered = _drain(broker_url, event_queues["EVENTS_QUEUE"])
    with transaction.atomic():  # one commit for the lot (speed); each delivery is its own savepoint
        outcomes = Counter(consume(event) for event in delivered)  # the idempotent consumer a worker runs
    assert outcomes["handled"] == count
    assert outcomes["duplicate"] <= 1, "only the publish in flight at the cut may arrive twice"
    assert {event.id for event in delivered} == {event.id for event in events}
    assert Label.objects.count() == ProcessedEvent.objects.count() == count, "each effect exactly once"


def test_a_broker_that_stops_answering_mid_run_fails_no_row_and_the_run_ends(
    broker_url: str, event_queues: dict[str, str], broker_proxy: TcpProxy, settings: SettingsWrapper
) -> None:
    settings.EVENTS_RELAY_PUBLISH_TIMEOUT = 1.0
    count = 300
    with transaction.atomic():
        for n in range(count):
            publish(RECORD, aggregate="a", aggregate_id=n, payload={})

    def stall_once_some_are_sent() -> None:
        deadline = time.monotonic() + 60
        while _queue_depth(broker_url, event_queues["EVENTS_QUEUE"]) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        broker_proxy.stall()  # connected, but nothing comes back: no confirm, ever

    staller = threading.Thread(target=stall_once_some_are_sent)
    staller.start()
    report = relay_outbox(broker_url=broker_proxy.url(broker_url))  # returns: its row locks are released
    staller.join(60)

    assert report.broker_unavailable
    assert (report.retried, report.dead) == (0, 0)
    assert 50 <= report.sent < count
    assert not OutboxEvent.objects.filter(status=OutboxStatus.PENDING).exclude(attempts=0).exists()

    broker_proxy.start()
    again = relay_outbox(broker_url=broker_proxy.url(broker_url))
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
