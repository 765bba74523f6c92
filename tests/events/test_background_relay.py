"""The on-commit relay runs in a background thread: a commit never waits on the broker."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.events import background_relay, publish
from apps.events.models import OutboxEvent, OutboxStatus
from apps.events.relay import broker_marked_down
from tests.events.handlers import RECORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_commit_returns_while_the_relay_still_waits_on_a_black_holed_broker(black_hole_broker: str) -> None:
    with transaction.atomic():
        event = publish(RECORD, aggregate="a", aggregate_id=1, payload={})
    # Back from the commit while the relay's connect is still hanging on the black hole.
    assert not background_relay.wait_until_idle(timeout=0.2), "the relay runs after the commit, not in it"
    assert OutboxEvent.objects.get(pk=event.id).status == OutboxStatus.PENDING

    assert background_relay.wait_until_idle(timeout=30), "its connect gives up (CELERY_BROKER_CONNECTION_TIMEOUT)"
    row = OutboxEvent.objects.get(pk=event.id)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 0), "left for the periodic relay, no attempt used"
    assert broker_marked_down(), "the next commits do not try the broker for EVENTS_RELAY_INTERVAL"


def test_ids_beyond_the_backlog_bound_are_left_to_the_periodic_relay(
    black_hole_broker: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(background_relay, "MAX_WAITING", 2)
    with transaction.atomic():
        events = [publish(RECORD, aggregate="a", aggregate_id=n, payload={}) for n in range(3)]
    assert background_relay.wait_until_idle(timeout=0), "nothing was queued for the thread"
    assert not broker_marked_down(), "the broker was not even tried"
    assert "events_relay_backlog_full" in caplog.text
    rows = OutboxEvent.objects.filter(pk__in=[event.id for event in events])
    assert {(row.status, row.attempts) for row in rows} == {(OutboxStatus.PENDING, 0)}
