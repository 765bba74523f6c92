"""`events_dead_letters` on dead outbox rows (the queue side runs against RabbitMQ in test_tasks.py), `events_relay`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.events import publish
from apps.events.models import OutboxEvent, OutboxStatus
from tests.events.handlers import BROKEN, FLAKY, RECORD, effects, failure_switch
from tests.testapp.models import Label

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_list_shows_dead_rows_and_replay_delivers_them() -> None:
    Label.objects.create(name=failure_switch("y"))
    dead = publish(FLAKY, aggregate="a", aggregate_id="y", payload={})
    OutboxEvent.objects.filter(pk=dead.id).update(status=OutboxStatus.DEAD, last_error="TransientError: down")
    listing = run("events_dead_letters", "--list")
    assert "dead outbox rows: 1" in listing
    assert str(dead.id) in listing
    records = [json.loads(line) for line in run("events_dead_letters", "--list", "--json").splitlines()]
    assert records == [
        {"source": "outbox", "id": str(dead.id), "event_type": FLAKY, "attempts": 1, "error": "TransientError: down"}
    ]

    Label.objects.filter(name=failure_switch("y")).delete()
    assert "1 dead outbox row(s)" in run("events_dead_letters", "--replay", str(dead.id))
    assert effects(dead) == 1
    assert OutboxEvent.objects.get(pk=dead.id).status == OutboxStatus.SENT


def test_replay_of_an_unknown_id_fails_clearly() -> None:
    with pytest.raises(CommandError, match="no dead letter with id nope"):
        run("events_dead_letters", "--replay", "nope")


def test_replay_all_and_purge() -> None:
    first = publish(BROKEN, aggregate="a", aggregate_id=1, payload={})
    second = publish(BROKEN, aggregate="a", aggregate_id=2, payload={})
    assert OutboxEvent.objects.filter(status=OutboxStatus.DEAD).count() == 2
    assert "2 dead outbox row(s)" in run("events_dead_letters", "--replay-all")
    assert OutboxEvent.objects.filter(status=OutboxStatus.DEAD).count() == 2, "still broken: dead again"
    assert "2 dead outbox row(s)" in run("events_dead_letters", "--purge")
    assert not OutboxEvent.objects.filter(pk__in=[first.id, second.id]).exists()


def test_events_relay_once_publishes_what_is_pending(settings: SettingsWrapper) -> None:
    settings.EVENTS_RELAY_ON_COMMIT = False
    event = publish(RECORD, aggregate="a", aggregate_id=1, payload={})
    assert "sent=1 retried=0 dead=0 broker_unavailable=False" in run("events_relay", "--once")
    assert effects(event) == 1
