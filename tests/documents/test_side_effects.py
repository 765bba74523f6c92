"""A document's events and cache invalidation come from the core write paths, once, whoever writes.

Declared in `apps.documents.effects`; run by `apps.core.audit.record()` (and the upsert) in the
change's transaction: services, the admin and a shell script all emit and invalidate alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.caching import cached, invalidate_tags
from apps.caching.invalidation import invalidate_tags as real_invalidate_tags
from apps.core import side_effects
from apps.core.context import acting_as, in_tenant
from apps.core.errors import Conflict, PreconditionFailed
from apps.core.versioning import ExpectedVersion, version_of
from apps.documents.models import Attachment, Document
from apps.documents.selectors import DETAIL_TAG, LIST_TAG, document_tag
from apps.documents.services import document_bulk_upsert, document_create, document_update
from apps.events.models import OutboxEvent
from tests.testapp.models import Label

ACME = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], None]]]]


def outbox() -> list[tuple[str, str, dict[str, Any]]]:
    rows = OutboxEvent.objects.order_by("occurred_at", "id").values_list("event_type", "aggregate_id", "payload")
    return [(event_type, aggregate_id, dict(payload)) for event_type, aggregate_id, payload in rows]


class Invalidations:
    """The tags the write paths asked `apps.caching` to invalidate; the real invalidation runs too."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, tags: Iterable[str], *, using: str) -> int:
        tags = list(tags)
        self.calls.append(tags)
        return real_invalidate_tags(tags, using=using)

    def tags(self) -> set[str]:
        return {tag for call in self.calls for tag in call}


@pytest.fixture
def invalidations() -> Iterator[Invalidations]:
    recorder = Invalidations()
    side_effects.plug_invalidator(recorder)
    try:
        yield recorder
    finally:
        side_effects.plug_invalidator(real_invalidate_tags)


@pytest.fixture(autouse=True)
def _no_relay(settings: SettingsWrapper) -> None:
    settings.EVENTS_RELAY_ON_COMMIT = False  # these tests read the outbox; nobody consumes it


def script(title: str, **fields: Any) -> Document:
    """A document written as a shell script would: the model, no service."""
    with in_tenant(ACME), acting_as("script:seed"):
        document = Document(title=title, **fields)
        document.save()
    return document


class Reads:
    """A cached read tagged like a document's detail; counts how often it was really computed."""

    def __init__(self, document_id: uuid.UUID) -> None:
        self.computed = 0
        self.tag = document_tag(document_id)

        @cached(key_prefix=f"side-effects-test-{uuid.uuid4().hex}", ttl=60, tags=lambda: [self.tag])
        def read() -> int:
            self.computed += 1
            return self.computed

        self.read = read

    def close(self) -> None:
        invalidate_tags([self.tag])  # a shared Redis keeps nothing from this test


@pytest.mark.django_db
def test_a_script_save_emits_created_then_updated_with_the_diffs_fields(
    invalidations: Invalidations, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        document = script("From a script", status="published")
        with in_tenant(ACME), acting_as("script:seed"):
            document.body = "edited"
            document.save()
    assert outbox() == [
        ("document.created", str(document.pk), {"title": "From a script", "status": "published"}),
        ("document.updated", str(document.pk), {"fields": ["body"]}),
    ]
    assert OutboxEvent.objects.filter(tenant_id=ACME, actor="script:seed").count() == 2
    assert invalidations.calls == [[LIST_TAG, document_tag(document.pk)]] * 2


@pytest.mark.django_db
def test_a_save_that_changed_nothing_emits_nothing_but_drops_the_cached_row(
    invalidations: Invalidations, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    document = script("Unchanged")
    before = OutboxEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True), in_tenant(ACME):
        document_update(document_id=document.pk, changes={"title": "Unchanged"})
    assert OutboxEvent.objects.count() == before, "no event for a change that changed nothing"
    # The stamps moved (updated_at, so the ETag): a cached copy of the row must go.
    assert invalidations.calls[-1] == [LIST_TAG, document_tag(document.pk)]


@pytest.mark.django_db
def test_queryset_and_bulk_paths_emit_one_event_per_changed_row(
    invalidations: Invalidations, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    with in_tenant(ACME), acting_as("script:seed"), django_capture_on_commit_callbacks(execute=True):
        first, second, third = Document.objects.bulk_create(Document(title=f"Bulk {n}") for n in range(3))
        Document.objects.filter(pk__in=[first.pk, second.pk]).update(status="archived")
        third.body = "bulk body"
        Document.objects.bulk_update([third], ["body"])
    types = [(event_type, aggregate_id) for event_type, aggregate_id, _ in outbox()]
    assert types == [
        *[("document.created", str(document.pk)) for document in (first, second, third)],
        ("document.updated", str(first.pk)),
        ("document.updated", str(second.pk)),
        ("document.updated", str(third.pk)),
    ]
    assert outbox()[-1][2] == {"fields": ["body"]}
    assert {document_tag(document.pk) for document in (first, second, third)} | {LIST_TAG} == invalidations.tags()


@pytest.mark.django_db
def test_a_set_based_delete_emits_per_document_with_its_batch_and_the_restore_brings_them_back(
    invalidations: Invalidations,
) -> None:
    documents = [script(f"Cascade {n}") for n in range(2)]
    Attachment.objects.bulk_create(Attachment(document=document, filename="a.pdf") for document in documents)
    OutboxEvent.objects.all().delete()
    with in_tenant(ACME), acting_as("admin:ann"):
        Document.objects.filter(pk__in=[d.pk for d in documents]).delete()
        batch = Document.all_objects.get(pk=documents[0].pk).delete_batch
        assert outbox() == [
            ("document.deleted", str(document.pk), {"delete_batch": str(batch)}) for document in documents
        ], "one event per document, none for the attachments (they declare nothing)"
        Document.deleted_objects.filter(pk=documents[0].pk).restore()
    assert outbox()[-1] == ("document.restored", str(documents[0].pk), {})
    assert invalidations.calls[-1] == [LIST_TAG, document_tag(documents[0].pk)]


@pytest.mark.django_db
def test_a_hard_delete_invalidates_without_an_event(invalidations: Invalidations) -> None:
    document = script("Hard")
    OutboxEvent.objects.all().delete()
    invalidations.calls.clear()
    with in_tenant(ACME):
        Document.all_objects.filter(pk=document.pk).hard_delete()
    assert outbox() == []
    assert invalidations.calls == [[LIST_TAG, document_tag(document.pk)]]


@pytest.mark.django_db
def test_an_upsert_emits_one_summary_event_and_drops_the_rows_it_wrote(invalidations: Invalidations) -> None:
    existing = script("Upserted 0")
    OutboxEvent.objects.all().delete()
    with in_tenant(ACME), acting_as("script:seed"):
        document_bulk_upsert(rows=[{"title": "Upserted 0", "body": "new"}, {"title": "Upserted 1"}])
        created = Document.objects.get(title="Upserted 1")
        assert outbox() == [("documents.bulk_upserted", "*", {"created": 1, "updated": 1})]
        assert invalidations.tags() == {LIST_TAG, document_tag(existing.pk), document_tag(created.pk)}
        document_bulk_upsert(rows=[{"title": "Upserted 0", "body": "new"}])
    assert len(outbox()) == 1, "an upsert that changed no value emits nothing"


@pytest.mark.django_db
def test_a_big_change_drops_every_cached_detail_with_one_tag(invalidations: Invalidations) -> None:
    with in_tenant(ACME), acting_as("script:seed"):
        Document.objects.bulk_create(Document(title=f"Many {n}") for n in range(side_effects.MANY_ROWS))
    assert invalidations.calls == [[LIST_TAG, DETAIL_TAG]]


@pytest.mark.django_db(transaction=True)  # committed writes: the cache bypass of an open transaction is not in play
def test_losing_writes_emit_nothing_and_invalidate_nothing(
    invalidations: Invalidations, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    document = script("Contested")
    stale = ExpectedVersion.exactly(version_of(document))
    script("Taken")
    with in_tenant(ACME):
        document_update(document_id=document.pk, changes={"body": "first writer"})
    before, asked = OutboxEvent.objects.count(), len(invalidations.calls)
    reads = Reads(document.pk)
    try:
        assert reads.read() == 1
        with django_capture_on_commit_callbacks(execute=True) as callbacks, in_tenant(ACME):
            with pytest.raises(PreconditionFailed):
                document_update(document_id=document.pk, changes={"body": "stale"}, expected_version=stale)
            with pytest.raises(Conflict):
                document_update(document_id=document.pk, changes={"title": "Taken"})
            with pytest.raises(Conflict), transaction.atomic():
                document_create(title="Taken")
        assert callbacks == []
        assert OutboxEvent.objects.count() == before
        assert len(invalidations.calls) == asked
        assert reads.read() == 1, "the cached entry survived"
    finally:
        reads.close()
        Document.all_objects.all().hard_delete()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_write_emits_nothing_and_leaves_the_cache_alone(
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    document = script("Rolled back")
    before = OutboxEvent.objects.count()

    def write_then_fail() -> None:
        with transaction.atomic():
            document_update(document_id=document.pk, changes={"body": "never"})
            raise RuntimeError("the caller fails after the write")

    reads = Reads(document.pk)
    try:
        assert reads.read() == 1
        with django_capture_on_commit_callbacks(execute=True), in_tenant(ACME), pytest.raises(RuntimeError):
            write_then_fail()
        assert OutboxEvent.objects.count() == before
        assert reads.read() == 1
    finally:
        reads.close()
        Document.all_objects.all().hard_delete()


@pytest.mark.django_db(transaction=True)
def test_the_invalidation_runs_at_commit_and_other_threads_see_it_then() -> None:
    document = script("At commit")
    reads = Reads(document.pk)
    seen: list[int] = []

    def other_process_reads() -> None:  # another thread: the shared cache, not this transaction's view
        seen.append(reads.read())

    try:
        assert reads.read() == 1
        with transaction.atomic(), in_tenant(ACME):
            document_update(document_id=document.pk, changes={"body": "committed"})
            reader = threading.Thread(target=other_process_reads)
            reader.start()
            reader.join()
            assert seen == [1], "before the commit, the others still get the committed value"
        other_process_reads()
        assert seen == [1, 2], "after the commit, nobody serves the stale entry"
    finally:
        reads.close()
        Document.all_objects.all().hard_delete()
        OutboxEvent.objects.all().delete()


READER = """
import sys, django
django.setup()
from apps.core.context import in_tenant
from apps.documents.selectors import document_detail
with in_tenant(sys.argv[2]):
    print(document_detail(sys.argv[1])["body"])
"""


@pytest.mark.django_db(transaction=True)
def test_a_commit_here_stops_another_process_serving_the_stale_detail(redis_url: str, postgres: None) -> None:
    from django.db import connection

    document = script("Across processes", body="first")
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
    }

    def other_process_reads() -> str:
        result = subprocess.run(
            [sys.executable, "-c", READER, str(document.pk), str(ACME)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1]

    try:
        assert other_process_reads() == "first"  # cached in Redis by that process
        with connection.cursor() as cursor:  # raw SQL: no side effects, so the cached entry stays
            cursor.execute(f"UPDATE {Document._meta.db_table} SET body = %s WHERE id = %s", ["raw", document.pk])
        assert other_process_reads() == "first", "the other process reads the shared entry, not the row"
        with in_tenant(ACME):
            document_update(document_id=document.pk, changes={"body": "second"})
        assert other_process_reads() == "second", "one invalidation at commit reaches every process"
    finally:
        invalidate_tags([document_tag(document.pk)])
        Document.all_objects.all().hard_delete()
        OutboxEvent.objects.all().delete()


def test_a_model_that_is_not_audited_cannot_declare_side_effects() -> None:
    with pytest.raises(ImproperlyConfigured, match="not audited"):
        side_effects.declare(Label, side_effects.SideEffects(aggregate="label"))
    assert "label" not in {effects.aggregate for effects in side_effects._declared.values()}


@pytest.mark.django_db
def test_a_declared_event_with_nothing_to_publish_it_fails_the_write_rather_than_skip_it() -> None:
    side_effects._plugged.publisher, plugged = None, side_effects._plugged.publisher
    try:
        with pytest.raises(ImproperlyConfigured, match="nothing is plugged in to publish"):
            script("Unpublished")
    finally:
        side_effects._plugged.publisher = plugged
    assert not Document.all_objects.filter(title="Unpublished").exists(), "the write rolled back"
