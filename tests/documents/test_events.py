"""Documents writes emit their domain events in the write's transaction (every path: test_side_effects.py)."""

from __future__ import annotations

import uuid

import pytest

from apps.core.context import acting_as, in_tenant
from apps.documents.services import (
    document_bulk_upsert,
    document_create,
    document_delete,
    document_restore,
    document_update,
)
from apps.events.models import OutboxEvent

ACME = uuid.UUID("00000000-0000-4000-8000-00000000000a")


@pytest.mark.django_db
def test_each_write_emits_its_event_with_actor_and_tenant() -> None:
    with in_tenant(ACME), acting_as("admin:alice"):
        document = document_create(title="Evented")
        document_update(document_id=document.pk, changes={"status": "published"})
        document_delete(document_id=document.pk)
        document_restore(document_id=document.pk)
        document_bulk_upsert(rows=[{"title": "Evented", "body": "bulk"}])
    rows = list(OutboxEvent.objects.order_by("occurred_at", "id").values_list("event_type", "aggregate_id"))
    assert rows == [
        ("document.created", str(document.pk)),
        ("document.updated", str(document.pk)),
        ("document.deleted", str(document.pk)),
        ("document.restored", str(document.pk)),
        ("documents.bulk_upserted", "*"),
    ]
    created = OutboxEvent.objects.filter(event_type="document.created").get()
    assert (created.actor, created.tenant_id) == ("admin:alice", ACME)


@pytest.mark.django_db
def test_a_failed_write_emits_nothing() -> None:
    with in_tenant(ACME):
        document_create(title="Taken")
        before = OutboxEvent.objects.count()
        with pytest.raises(Exception, match="already exists"):
            document_create(title="Taken")
    assert OutboxEvent.objects.count() == before
