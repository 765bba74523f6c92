"""The outbox admin: read-only, filterable, and a replay action for dead rows."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from apps.events import publish
from apps.events.models import OutboxEvent, OutboxStatus
from tests.events.handlers import BROKEN, RECORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_the_changelist_shows_dead_rows_and_nothing_can_be_added_or_deleted(staff: Client) -> None:
    dead = publish(BROKEN, aggregate="a", aggregate_id=1, payload={})
    response = staff.get(reverse("admin:events_outboxevent_changelist"), {"status": "dead"})
    assert response.status_code == 200
    assert str(dead.id) in response.content.decode()
    assert staff.get(reverse("admin:events_outboxevent_add")).status_code == 403
    assert staff.get(reverse("admin:events_outboxevent_delete", args=[dead.id])).status_code == 403
    detail = staff.get(reverse("admin:events_outboxevent_change", args=[dead.id]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()


def test_the_replay_action_relays_dead_rows_only(staff: Client) -> None:
    dead = publish(BROKEN, aggregate="a", aggregate_id=1, payload={})
    sent = publish(RECORD, aggregate="a", aggregate_id=2, payload={})
    OutboxEvent.objects.filter(pk=dead.id).update(event_type=RECORD)  # fixed by a deploy, say
    response = staff.post(
        reverse("admin:events_outboxevent_changelist"),
        {"action": "replay_dead", "_selected_action": [str(dead.id), str(sent.id)]},
        follow=True,
    )
    assert "1 dead event(s) made pending again; relayed now: 1 sent" in response.content.decode()
    assert "1 selected event(s) were not dead" in response.content.decode()
    assert OutboxEvent.objects.get(pk=dead.id).status == OutboxStatus.SENT
