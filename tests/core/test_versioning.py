"""Row versions: derived from the key and `updated_at`, the same however the row is read, new after every write."""

from __future__ import annotations

import datetime
import uuid

import pytest

from apps.core.context import in_tenant
from apps.core.errors import PreconditionFailed
from apps.core.versioning import ExpectedVersion, row_version, version_of
from apps.documents.models import Document
from apps.documents.repositories import DocumentRepository

ACME = uuid.UUID("00000000-0000-4000-8000-00000000000a")


@pytest.mark.django_db
def test_the_version_written_is_the_version_read_back() -> None:
    with in_tenant(ACME):
        document = DocumentRepository().create(title="Versioned")
    stored = Document.objects.get(pk=document.pk)
    values = Document.objects.filter(pk=document.pk).values("id", "updated_at").get()
    assert version_of(document) == version_of(stored) == row_version(values["id"], values["updated_at"])


@pytest.mark.django_db
def test_every_write_path_makes_a_new_version() -> None:
    with in_tenant(ACME):
        document = DocumentRepository().create(title="Versioned")
        first = version_of(document)
        DocumentRepository().update(document, body="saved")
        saved = version_of(document)
        Document.objects.filter(pk=document.pk).update(body="bulk")  # the queryset path stamps updated_at too
        bulk = version_of(Document.objects.get(pk=document.pk))
    assert len({first, saved, bulk}) == 3


def test_rows_written_at_the_same_instant_have_different_versions() -> None:
    # A bulk write stamps one updated_at on many rows: an ETag of one must not fit another.
    now = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
    assert row_version(uuid.uuid4(), now) != row_version(uuid.uuid4(), now)


def test_the_version_names_the_instant_whatever_its_time_zone() -> None:
    pk = uuid.uuid4()
    utc = datetime.datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=datetime.UTC)
    paris = utc.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
    assert row_version(pk, utc) == row_version(pk, paris) == row_version(pk, utc.replace(tzinfo=None))
    assert row_version(pk, utc) != row_version(pk, utc + datetime.timedelta(microseconds=1))


def test_expected_versions_compare_strongly_as_if_match_does() -> None:
    version = row_version(1, datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC))
    assert ExpectedVersion.from_if_match(f'"{version}"').matches(version)
    assert ExpectedVersion.from_if_match(f'"other", "{version}"').matches(version)
    assert ExpectedVersion.from_if_match("*").matches(version)
    assert ExpectedVersion.exactly(version).matches(version)
    assert not ExpectedVersion.from_if_match(f'W/"{version}"').matches(version)  # weak tags never match If-Match
    assert not ExpectedVersion.from_if_match(version).matches(version)  # unquoted: not an entity tag
    assert not ExpectedVersion.from_if_match('"other"').matches(version)
    assert not ExpectedVersion.from_if_match("").matches(version)


@pytest.mark.django_db
def test_check_refuses_another_version_with_a_412() -> None:
    with in_tenant(ACME):
        document = DocumentRepository().create(title="Checked")
    ExpectedVersion.exactly(version_of(document)).check(document)
    with pytest.raises(PreconditionFailed, match="changed since the version you sent") as caught:
        ExpectedVersion.exactly("stale").check(document)
    assert (caught.value.status, caught.value.code) == (412, "precondition_failed")
