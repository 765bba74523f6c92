"""The admin change form refuses a save over a newer version of its row, with a message on the form."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.admin.optimistic_locking import ROW_VERSION_FIELD
from apps.core.context import acting_as, in_tenant
from apps.core.models import AuditEvent
from apps.core.versioning import version_of
from apps.documents.models import Document
from apps.documents.services import document_update
from tests.admin.conftest import ACME, VIEW_AND_DELETE, client_for, create_document, create_staff
from tests.races import race

INPUT = re.compile(rf'name="{ROW_VERSION_FIELD}" value="([0-9a-f]+)"')


def change_url(document: Document) -> str:
    return reverse("admin:documents_document_change", args=[document.pk])


def open_form(client: Client, document: Document) -> dict[str, str]:
    """What the browser would send back: the page's row version and the fields, edited below."""
    page = client.get(change_url(document))
    assert page.status_code == 200
    (shown,) = INPUT.findall(page.content.decode())
    return {
        ROW_VERSION_FIELD: shown,
        "title": document.title,
        "body": document.body,
        "status": document.status,
        "tags": "[]",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
    }


def someone_else_saves(document: Document, body: str) -> None:
    with in_tenant(document.tenant_id), acting_as("api-user"):
        document_update(document_id=document.pk, changes={"body": body})


@pytest.mark.django_db
def test_the_change_page_carries_the_same_row_version_as_the_api() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE))
    document = create_document("Report", attachments=0)
    assert open_form(client, document)[ROW_VERSION_FIELD] == version_of(document)


@pytest.mark.django_db
def test_a_stale_save_is_refused_with_a_message_and_writes_nothing() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE))
    document = create_document("Report", attachments=0)
    form = open_form(client, document)
    someone_else_saves(document, "their change")
    events = AuditEvent.objects.for_object(Document, document.pk).count()

    refused = client.post(change_url(document), {**form, "body": "my change"})
    assert refused.status_code == 200  # the form again, not a redirect
    errors = refused.context["adminform"].form.non_field_errors()
    assert len(errors) == 1
    assert "was changed by api-user" in errors[0]
    assert "your changes were not saved" in errors[0]
    assert "my change" in refused.content.decode()  # the input is kept
    stored = Document.objects.get(pk=document.pk)
    assert (stored.body, stored.updated_by) == ("their change", "api-user")
    assert AuditEvent.objects.for_object(Document, document.pk).count() == events
    # Submitting the same page again is refused again: it still shows the old version.
    assert client.post(change_url(document), {**form, "body": "my change"}).status_code == 200
    assert Document.objects.get(pk=document.pk).body == "their change"


@pytest.mark.django_db
def test_a_save_from_the_current_version_goes_through() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE))
    document = create_document("Report", attachments=0)
    someone_else_saves(document, "their change")
    document.refresh_from_db()
    form = open_form(client, document)  # opened after their save
    assert client.post(change_url(document), {**form, "body": "my change"}).status_code == 302
    assert Document.objects.get(pk=document.pk).body == "my change"


@pytest.mark.django_db(transaction=True)
def test_a_save_racing_a_committing_write_is_refused_under_the_row_lock(postgres: None) -> None:
    """The other write holds the row while the admin save starts: the save waits, then sees it and refuses."""
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE))
    document = create_document("Report", attachments=0)
    form = open_form(client, document)
    (response,) = race(
        lambda: someone_else_saves(document, "their change"),
        [lambda: client.post(change_url(document), {**form, "body": "my change"})],
    )
    assert response.status_code == 200
    assert "your changes were not saved" in response.context["adminform"].form.non_field_errors()[0]
    assert Document.objects.get(pk=document.pk).body == "their change"


@pytest.mark.django_db
def test_a_post_without_the_version_is_not_checked() -> None:
    """Scripts posting the form without the page's version keep working (last write wins)."""
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE))
    document = create_document("Report", attachments=0)
    form = open_form(client, document)
    del form[ROW_VERSION_FIELD]
    someone_else_saves(document, "their change")
    assert client.post(change_url(document), {**form, "body": "mine"}).status_code == 302
    assert Document.objects.get(pk=document.pk).tenant_id == ACME
