"""Documents writes emit their domain events in the write's transaction; workers drop stale cache entries."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import transaction

from apps.caching import cached, invalidate_tags
from apps.core.context import acting_as, in_tenant
from apps.documents.event_handlers import _document_and_lists
from apps.documents.selectors import LIST_TAG, document_tag
from apps.documents.services import (
    document_bulk_upsert,
    document_create,
    document_delete,
    document_restore,
    document_update,
)
from apps.events import Event
from apps.events.models import OutboxEvent
from apps.events.registry import handler_for

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


def test_every_document_event_type_has_its_invalidation_handler() -> None:
    for event_type in ("document.created", "document.updated", "document.deleted", "document.restored"):
        assert "invalidate_tags_on" in handler_for(event_type).__qualname__
    assert "invalidate_tags_on" in handler_for("documents.bulk_upserted").__qualname__
    assert _document_and_lists(_event("document.updated", "abc")) == [document_tag("abc"), LIST_TAG]


@pytest.mark.django_db(transaction=True)
def test_the_handler_drops_a_cached_entry_when_the_event_arrives() -> None:
    calls: list[int] = []

    @cached(key_prefix="docs-event-test", ttl=60, tags=lambda: [document_tag("evt-1")])
    def cached_read() -> int:
        calls.append(1)
        return len(calls)

    try:
        assert cached_read() == 1
        assert cached_read() == 1
        handler = handler_for("document.updated")
        with transaction.atomic():
            handler(_event("document.updated", "evt-1"))
        assert cached_read() == 2
    finally:
        invalidate_tags([document_tag("evt-1")])  # a shared Redis keeps nothing from this test


def _event(event_type: str, aggregate_id: str) -> Event:
    return Event(
        id=uuid.uuid4(),
        type=event_type,
        version=1,
        occurred_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        aggregate="document",
        aggregate_id=aggregate_id,
    )
