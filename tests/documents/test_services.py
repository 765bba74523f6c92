"""The writes of documents, through their services: what each returns, refuses, records and emits.

The tests a new feature copies: create rows with a factory, call the service inside a tenant and as
an actor, and assert on what anyone can observe afterwards: the returned value, the rows, the audit
log, the outbox, and what a later read returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from apps.core.context import acting_as, in_tenant
from apps.core.errors import Conflict, NotFound, PermissionDenied, PreconditionFailed
from apps.core.models import AuditEvent
from apps.core.versioning import ExpectedVersion, version_of
from apps.documents.models import Document
from apps.documents.selectors import document_detail
from apps.documents.services import (
    document_bulk_upsert,
    document_create,
    document_delete,
    document_restore,
    document_update,
)
from apps.events.models import OutboxEvent
from tests.documents.test_selectors import listed
from tests.factories import TENANT_A, TENANT_B, DocumentFactory

pytestmark = pytest.mark.django_db

ACTOR = "user-7"


@pytest.fixture(autouse=True)
def _in_tenant_a_as_actor() -> Iterator[None]:
    with in_tenant(TENANT_A), acting_as(ACTOR):
        yield


@dataclass
class Written:
    """The audit events and outbox events a block wrote (rows that existed before are not counted)."""

    audit: list[AuditEvent] = field(default_factory=list)
    events: list[OutboxEvent] = field(default_factory=list)

    @property
    def actions(self) -> list[str]:
        return [event.action for event in self.audit]

    @property
    def event_types(self) -> list[str]:
        return [event.event_type for event in self.events]


@contextmanager
def written() -> Iterator[Written]:
    audit_before = set(AuditEvent.objects.values_list("pk", flat=True))
    events_before = set(OutboxEvent.objects.values_list("pk", flat=True))
    result = Written()
    yield result
    result.audit.extend(AuditEvent.objects.exclude(pk__in=audit_before).order_by("id"))
    result.events.extend(OutboxEvent.objects.exclude(pk__in=events_before).order_by("occurred_at", "id"))


def stale(document: Document) -> ExpectedVersion:
    """The version a client read before someone else wrote."""
    return ExpectedVersion.exactly(f"{version_of(document)}-old")


# --- document_create -------------------------------------------------------------------------------


def test_create_stores_the_document_in_the_tenant_stamped_by_the_actor() -> None:
    with written() as writes:
        document = document_create(title="Plan", body="text", tags=["a", "b"])
    stored = Document.objects.get(pk=document.pk)
    assert (stored.title, stored.body, stored.tags, stored.status) == ("Plan", "text", ["a", "b"], "draft")
    assert (stored.tenant_id, stored.created_by, stored.updated_by) == (TENANT_A, ACTOR, ACTOR)
    assert writes.actions == ["create"]
    assert writes.audit[0].object_pk == str(document.pk)
    assert writes.audit[0].actor == ACTOR
    assert writes.event_types == ["document.created"]
    assert (writes.events[0].aggregate_id, writes.events[0].actor) == (str(document.pk), ACTOR)
    assert writes.events[0].tenant_id == TENANT_A


def test_create_with_a_title_taken_in_the_tenant_is_a_conflict_and_writes_nothing() -> None:
    DocumentFactory.create(title="Taken")
    with written() as writes, pytest.raises(Conflict) as refused:
        document_create(title="Taken")
    assert refused.value.errors == {"title": ["Already in use."]}
    assert (writes.audit, writes.events) == ([], [])
    assert Document.objects.filter(title="Taken").count() == 1


def test_a_title_taken_in_another_tenant_or_by_a_deleted_document_is_free() -> None:
    DocumentFactory.create(title="Shared", tenant_id=TENANT_B)
    DocumentFactory.create(title="Reused").delete()
    assert document_create(title="Shared").tenant_id == TENANT_A
    assert document_create(title="Reused").title == "Reused"


def test_create_without_a_tenant_is_refused() -> None:
    with in_tenant(None), written() as writes, pytest.raises(PermissionDenied):
        document_create(title="Nowhere")
    assert (writes.audit, writes.events) == ([], [])


# --- document_update -------------------------------------------------------------------------------


def test_update_changes_the_given_fields_and_records_the_diff() -> None:
    document = DocumentFactory.create(title="Old", body="kept")
    with written() as writes:
        updated = document_update(document_id=document.pk, changes={"title": "New", "status": "published"})
    stored = Document.objects.get(pk=document.pk)
    assert (updated.title, stored.title, stored.status, stored.body) == ("New", "New", "published", "kept")
    assert writes.actions == ["update"]
    assert writes.audit[0].changes["title"] == ["Old", "New"]
    assert writes.event_types == ["document.updated"]
    assert writes.events[0].aggregate_id == str(document.pk)


def test_update_to_a_title_taken_in_the_tenant_is_a_conflict_and_writes_nothing() -> None:
    DocumentFactory.create(title="Taken")
    document = DocumentFactory.create(title="Mine")
    with written() as writes, pytest.raises(Conflict):
        document_update(document_id=document.pk, changes={"title": "Taken", "body": "lost"})
    assert (writes.audit, writes.events) == ([], [])
    assert Document.objects.get(pk=document.pk).body == "a body"


def test_update_keeping_its_own_title_is_no_conflict() -> None:
    document = DocumentFactory.create(title="Same")
    assert document_update(document_id=document.pk, changes={"title": "Same", "body": "b"}).body == "b"


@pytest.mark.parametrize("document_id", [uuid.uuid4(), "not-a-uuid"], ids=["missing", "malformed"])
def test_update_of_an_unknown_id_is_not_found(document_id: uuid.UUID | str) -> None:
    with written() as writes, pytest.raises(NotFound):
        document_update(document_id=document_id, changes={"title": "x"})
    assert (writes.audit, writes.events) == ([], [])


def test_update_of_the_other_tenants_document_is_not_found_and_changes_nothing() -> None:
    theirs = DocumentFactory.create(title="Theirs", tenant_id=TENANT_B)
    with written() as writes, pytest.raises(NotFound):
        document_update(document_id=theirs.pk, changes={"title": "Ours now"})
    assert (writes.audit, writes.events) == ([], [])
    assert Document.objects.get(pk=theirs.pk).title == "Theirs"


def test_update_at_the_version_read_applies() -> None:
    document = DocumentFactory.create()
    current = ExpectedVersion.exactly(version_of(document))
    assert document_update(document_id=document.pk, changes={"body": "b"}, expected_version=current).body == "b"


def test_update_at_a_stale_version_is_refused_and_writes_nothing() -> None:
    document = DocumentFactory.create()
    with written() as writes, pytest.raises(PreconditionFailed):
        document_update(document_id=document.pk, changes={"body": "lost"}, expected_version=stale(document))
    assert (writes.audit, writes.events) == ([], [])
    assert Document.objects.get(pk=document.pk).body == "a body"


# --- document_delete -------------------------------------------------------------------------------


def test_delete_soft_deletes_records_and_emits() -> None:
    document = DocumentFactory.create()
    with written() as writes:
        document_delete(document_id=document.pk)
    stored = Document.all_objects.get(pk=document.pk)
    assert (stored.is_deleted, stored.deleted_by) == (True, ACTOR)
    assert not Document.objects.filter(pk=document.pk).exists()
    assert writes.actions == ["soft_delete"]
    assert writes.event_types == ["document.deleted"]
    assert writes.events[0].aggregate_id == str(document.pk)


def test_delete_of_a_deleted_or_the_other_tenants_document_is_not_found() -> None:
    deleted = DocumentFactory.create()
    deleted.delete()
    theirs = DocumentFactory.create(tenant_id=TENANT_B)
    for document in (deleted, theirs):
        with written() as writes, pytest.raises(NotFound):
            document_delete(document_id=document.pk)
        assert (writes.audit, writes.events) == ([], [])
    assert not Document.all_objects.get(pk=theirs.pk).is_deleted


def test_delete_at_a_stale_version_is_refused_and_keeps_the_document() -> None:
    document = DocumentFactory.create()
    with written() as writes, pytest.raises(PreconditionFailed):
        document_delete(document_id=document.pk, expected_version=stale(document))
    assert (writes.audit, writes.events) == ([], [])
    assert Document.objects.filter(pk=document.pk).exists()


# --- document_restore ------------------------------------------------------------------------------


def test_restore_brings_a_deleted_document_back_records_and_emits() -> None:
    document = DocumentFactory.create()
    document_delete(document_id=document.pk)
    with written() as writes:
        restored = document_restore(document_id=document.pk)
    assert restored.pk == document.pk
    assert not Document.objects.get(pk=document.pk).is_deleted
    assert writes.actions == ["restore"]
    assert writes.event_types == ["document.restored"]


def test_restore_of_a_live_or_the_other_tenants_document_is_not_found() -> None:
    live = DocumentFactory.create()
    theirs = DocumentFactory.create(tenant_id=TENANT_B)
    theirs.delete()
    for document in (live, theirs):
        with written() as writes, pytest.raises(NotFound):
            document_restore(document_id=document.pk)
        assert (writes.audit, writes.events) == ([], [])
    assert Document.all_objects.get(pk=theirs.pk).is_deleted


def test_restore_at_a_stale_version_is_refused_and_keeps_it_deleted() -> None:
    document = DocumentFactory.create()
    document.delete()
    with written() as writes, pytest.raises(PreconditionFailed):
        document_restore(document_id=document.pk, expected_version=stale(Document.all_objects.get(pk=document.pk)))
    assert (writes.audit, writes.events) == ([], [])
    assert Document.all_objects.get(pk=document.pk).is_deleted


# --- document_bulk_upsert --------------------------------------------------------------------------


def test_bulk_upsert_creates_new_titles_and_updates_only_the_given_fields_of_existing_ones() -> None:
    existing = DocumentFactory.create(title="Existing", body="kept", status="published")
    with written() as writes:
        result = document_bulk_upsert(rows=[{"title": "Existing", "tags": ["x"]}, {"title": "Fresh"}])
    assert (result.created, result.updated) == (1, 1)
    stored = Document.objects.get(pk=existing.pk)
    assert (stored.body, stored.status, stored.tags, stored.updated_by) == ("kept", "published", ["x"], ACTOR)
    fresh = Document.objects.get(title="Fresh")
    assert (fresh.tenant_id, fresh.created_by, fresh.status) == (TENANT_A, ACTOR, "draft")
    assert "documents.bulk_upserted" in writes.event_types
    assert {event.action for event in writes.audit} == {"create", "update"}


def test_bulk_upsert_never_touches_the_other_tenants_document_of_the_same_title() -> None:
    theirs = DocumentFactory.create(title="Same", body="theirs", tenant_id=TENANT_B)
    result = document_bulk_upsert(rows=[{"title": "Same", "body": "ours"}])
    assert (result.created, result.updated) == (1, 0)
    assert Document.objects.get(pk=theirs.pk).body == "theirs"
    assert Document.objects.get(title="Same", tenant_id=TENANT_A).body == "ours"


def test_bulk_upsert_without_a_tenant_is_refused() -> None:
    with in_tenant(None), written() as writes, pytest.raises(PermissionDenied):
        document_bulk_upsert(rows=[{"title": "Nowhere"}])
    assert (writes.audit, writes.events) == ([], [])


# --- a read after a write sees the write (the cache is invalidated on commit) ----------------------


@pytest.fixture
def own_tenant() -> Iterator[uuid.UUID]:
    """A tenant of this test only: the committed cache entries of a transactional test are its own."""
    tenant = uuid.uuid4()
    with in_tenant(tenant):
        yield tenant


@pytest.mark.django_db(transaction=True)  # commits, so the cache is really filled and invalidated
def test_a_detail_read_after_each_write_sees_the_write(own_tenant: uuid.UUID) -> None:
    document = document_create(title="Before")
    assert document_detail(document.pk)["title"] == "Before"  # now cached
    document_update(document_id=document.pk, changes={"title": "After"})
    assert document_detail(document.pk)["title"] == "After"
    document_delete(document_id=document.pk)
    with pytest.raises(NotFound):
        document_detail(document.pk)
    document_restore(document_id=document.pk)
    assert document_detail(document.pk)["title"] == "After"
    document_bulk_upsert(rows=[{"title": "After", "body": "bulk"}])
    assert document_detail(document.pk)["body"] == "bulk"


@pytest.mark.django_db(transaction=True)
def test_a_list_read_after_each_write_sees_the_write(own_tenant: uuid.UUID) -> None:
    assert listed() == []  # now cached
    document = document_create(title="One")
    assert [row["title"] for row in listed()] == ["One"]
    document_update(document_id=document.pk, changes={"title": "Renamed"})
    assert [row["title"] for row in listed()] == ["Renamed"]
    document_bulk_upsert(rows=[{"title": "Two"}])
    assert sorted(row["title"] for row in listed()) == ["Renamed", "Two"]
    document_delete(document_id=document.pk)
    assert [row["title"] for row in listed()] == ["Two"]
    assert [row["title"] for row in listed(deleted=True)] == ["Renamed"]
    document_restore(document_id=document.pk)
    assert [row["title"] for row in listed(deleted=True)] == []
