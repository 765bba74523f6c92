"""The relay: batches, backoff, dead rows, and row locks that let several relays share the outbox."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.events import publish
from apps.events.models import OutboxEvent, OutboxStatus
from apps.events.relay import _due, relay_outbox
from tests.events.handlers import BROKEN, FLAKY, RECORD, effects, failure_switch
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
