"""Staff of tenant A typing tenant B's ids into admin URLs reach nothing: every page answers "doesn't exist"."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from apps.core.context import acting_as
from apps.core.models import AuditEvent
from apps.documents.models import Attachment, Document
from tests.admin.conftest import (
    GLOBEX,
    HARD_DELETE,
    RESTORE,
    VIEW_AND_DELETE,
    client_for,
    create_document,
    create_staff,
)

pytestmark = pytest.mark.django_db

EVERYTHING = [*VIEW_AND_DELETE, *RESTORE, *HARD_DELETE, "documents.add_document", "documents.add_attachment"]


def _foreign_rows() -> tuple[Document, Document, Attachment]:
    live = create_document("Globex plan", tenant=GLOBEX, attachments=1)
    gone = create_document("Globex secret", tenant=GLOBEX, attachments=1)
    with acting_as("admin:globex-staff"):
        gone.delete()
    return live, gone, Attachment.objects.get(document=live)


def _refused(response: Any, *titles: str) -> None:
    assert response.status_code == 302  # Django's "doesn't exist. Perhaps it was deleted?" redirect
    assert response["Location"].startswith(reverse("admin:index"))
    page = response.client.get(response["Location"]).content.decode()
    for title in titles:
        assert title not in page


def _snapshot() -> list[tuple[Any, ...]]:
    documents = Document.all_objects.order_by("pk").values_list("pk", "title", "deleted_at", "updated_by")
    attachments = Attachment.all_objects.order_by("pk").values_list("pk", "document_id", "filename", "deleted_at")
    return [*documents, *attachments, ("log", LogEntry.objects.count()), ("audit", AuditEvent.objects.count())]


@pytest.mark.parametrize("view", ["change", "delete", "history", "restore", "hard_delete"])
@pytest.mark.parametrize("which", ["live", "deleted"])
def test_another_tenants_document_pages_answer_as_missing_and_write_nothing(view: str, which: str) -> None:
    client = client_for(create_staff("ann", perms=EVERYTHING))
    live, gone, _attachment = _foreign_rows()
    target = live if which == "live" else gone
    url = reverse(f"admin:documents_document_{view}", args=[target.pk])
    before = _snapshot()
    _refused(client.get(url), target.title)
    form = {"post": "yes", "title": "Taken over", "status": "draft", "tags": "[]", "attachments-TOTAL_FORMS": "0"}
    _refused(client.post(url, {**form, "attachments-INITIAL_FORMS": "0"}), target.title)
    assert _snapshot() == before


@pytest.mark.parametrize("view", ["change", "delete", "history", "restore", "hard_delete"])
def test_another_tenants_attachment_pages_answer_as_missing_and_write_nothing(view: str) -> None:
    client = client_for(create_staff("ann", perms=EVERYTHING))
    _live, _gone, attachment = _foreign_rows()
    url = reverse(f"admin:documents_attachment_{view}", args=[attachment.pk])
    before = _snapshot()
    _refused(client.get(url), attachment.filename)
    _refused(client.post(url, {"post": "yes", "filename": "x", "document": str(attachment.document_id)}))
    assert _snapshot() == before


@pytest.mark.parametrize("action", ["delete_selected", "restore_selected", "hard_delete_selected"])
def test_actions_on_another_tenants_ids_write_nothing(action: str) -> None:
    client = client_for(create_staff("ann", perms=EVERYTHING))
    live, gone, _attachment = _foreign_rows()
    before = _snapshot()
    for state in ("alive", "deleted", "all"):
        data = {"action": action, "_selected_action": [str(live.pk), str(gone.pk)]}
        for confirm in ({}, {"post": "yes"}):
            response = client.post(
                f"{reverse('admin:documents_document_changelist')}?state={state}", {**data, **confirm}
            )
            assert response.status_code in {200, 302}
            assert "Globex" not in response.content.decode()
    assert _snapshot() == before


def test_a_malformed_id_in_an_object_url_answers_as_missing() -> None:
    client = client_for(create_staff("ann", perms=EVERYTHING))
    for view in ("change", "delete", "history", "restore", "hard_delete"):
        _refused(client.get(reverse(f"admin:documents_document_{view}", args=["not-a-uuid"])))


def test_the_attachment_inline_cannot_edit_another_tenants_attachment() -> None:
    client = client_for(create_staff("ann", perms=EVERYTHING))
    _live, _gone, foreign = _foreign_rows()
    own = create_document("Acme plan", attachments=0)
    before = list(Attachment.all_objects.order_by("pk").values())
    form = {
        "title": "Acme plan",
        "status": "draft",
        "tags": "[]",
        "attachments-TOTAL_FORMS": "1",
        "attachments-INITIAL_FORMS": "1",
        "attachments-0-id": str(foreign.pk),
        "attachments-0-document": str(own.pk),
        "attachments-0-filename": "hijacked.pdf",
        "attachments-0-content_type": "application/pdf",
        "attachments-0-size_bytes": "1",
    }
    client.post(reverse("admin:documents_document_change", args=[own.pk]), form)
    # The inline's rows are the document's own: a foreign id edits (or moves) nothing.
    assert list(Attachment.all_objects.order_by("pk").values()) == before
