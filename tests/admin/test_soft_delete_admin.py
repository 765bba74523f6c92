"""SoftDeleteModelAdmin through the Django test client: listing, soft delete, restore, hard delete, permissions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.context import acting_as
from apps.core.models import AuditAction, AuditEvent, SoftDeleteMixin
from apps.documents.models import Attachment, Document
from tests.admin.conftest import (
    ACME,
    GLOBEX,
    HARD_DELETE,
    RESTORE,
    VIEW_AND_DELETE,
    client_for,
    create_document,
    create_staff,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:documents_document_changelist"
ATTACHMENTS = "admin:documents_attachment_changelist"


def _action(client: Any, action: str, *documents: Document, confirm: bool = False, **query: str) -> Any:
    data = {"action": action, "_selected_action": [str(d.pk) for d in documents]}
    if confirm:
        data["post"] = "yes"
    url = reverse(CHANGELIST) + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return client.post(url, data, follow=confirm)


def _soft_delete(document: SoftDeleteMixin, actor: str = "admin:someone") -> None:
    with acting_as(actor):
        document.delete()


def _action_names(response: Any) -> list[str]:
    return [value for value, _label in response.context["action_form"].fields["action"].choices]


def test_the_list_shows_live_rows_by_default_and_the_filter_switches_to_deleted_or_all() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE))
    alive, gone = create_document("Alive"), create_document("Gone")
    _soft_delete(gone, "admin:bob")

    default = client.get(reverse(CHANGELIST))
    assert list(default.context["cl"].result_list) == [alive]
    deleted = client.get(reverse(CHANGELIST), {"state": "deleted"})
    assert list(deleted.context["cl"].result_list) == [gone]
    page = deleted.content.decode()
    assert 'class="soft-deleted"' in page
    assert "Deleted by admin:bob on" in page
    everything = client.get(reverse(CHANGELIST), {"state": "all"})
    assert set(everything.context["cl"].result_list) == {alive, gone}
    filters = [c["display"] for c in default.context["cl"].filter_specs[0].choices(default.context["cl"])]
    assert filters == ["Alive", "Deleted", "All"]


def test_delete_action_lists_the_cascade_then_soft_deletes_set_based_as_the_admin_user() -> None:
    user = create_staff("ann", perms=VIEW_AND_DELETE)
    client = client_for(user)
    first, second = create_document("First", attachments=3), create_document("Second", attachments=3)

    confirmation = _action(client, "delete_selected", first, second)
    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    assert "can bring them back" in page
    assert "First-2.pdf" in page
    assert "Second-0.pdf" in page
    assert dict(confirmation.context["model_count"]) == {"Documents": 2, "Attachments": 6}

    with CaptureQueriesContext(connection) as queries:
        _action(client, "delete_selected", first, second, confirm=True)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 2  # one per model, not one per row
    assert Document.objects.count() == 0
    assert set(Document.deleted_objects.values_list("deleted_by", flat=True)) == {"admin:ann"}
    assert set(Attachment.deleted_objects.values_list("deleted_by", flat=True)) == {"admin:ann"}
    logged = LogEntry.objects.filter(action_flag=DELETION, user=user)
    assert {e.object_id for e in logged} == {str(first.pk), str(second.pk)}


def test_object_delete_view_soft_deletes_and_the_deleted_row_is_read_only_with_who_and_when() -> None:
    user = create_staff("ann", perms=VIEW_AND_DELETE + RESTORE)
    client = client_for(user)
    document = create_document("Report")
    delete_url = reverse("admin:documents_document_delete", args=[document.pk])
    assert "Report-1.pdf" in client.get(delete_url).content.decode()

    client.post(delete_url, {"post": "yes"})
    document.refresh_from_db()
    assert (document.is_deleted, document.deleted_by) == (True, "admin:ann")
    assert Attachment.objects.filter(document=document).count() == 0

    change = client.get(reverse("admin:documents_document_change", args=[document.pk]))
    page = change.content.decode()
    assert "was deleted by <strong>admin:ann</strong>" in page
    assert 'name="_save"' not in page  # read-only until restored
    assert "Restore…" in page
    assert "Delete permanently…" not in page  # no hard_delete permission
    assert client.get(delete_url).status_code == 403  # already deleted: no second soft delete


def test_without_restore_permission_the_action_is_not_offered_and_posting_it_does_nothing() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE))
    document = create_document("Report")
    _soft_delete(document)
    page = client.get(reverse(CHANGELIST), {"state": "deleted"})
    assert "restore_selected" not in _action_names(page)
    assert "hard_delete_selected" not in _action_names(page)

    _action(client, "restore_selected", document, confirm=True, state="deleted")
    assert Document.all_objects.get(pk=document.pk).is_deleted
    restore_url = reverse("admin:documents_document_restore", args=[document.pk])
    assert client.get(restore_url).status_code == 403
    assert client.post(restore_url, {"post": "yes"}).status_code == 403
    assert Document.all_objects.get(pk=document.pk).is_deleted


def test_restore_confirmation_lists_the_whole_batch_then_restores_it_and_logs_it() -> None:
    user = create_staff("ann", perms=VIEW_AND_DELETE + RESTORE)
    client = client_for(user)
    document = create_document("Report", attachments=2)
    earlier = Attachment.objects.create(document=document, filename="removed-before.pdf")
    _soft_delete(earlier)  # its own, earlier batch: must not come back
    _soft_delete(document, "admin:bob")
    assert "restore_selected" in _action_names(client.get(reverse(CHANGELIST), {"state": "deleted"}))

    confirmation = _action(client, "restore_selected", document, state="deleted")
    page = confirmation.content.decode()
    assert confirmation.context["listing"].model_count() == {"Documents": 1, "Attachments": 2}
    assert "Report-0.pdf" in page
    assert "Report-1.pdf" in page
    assert "removed-before.pdf" not in page

    done = _action(client, "restore_selected", document, confirm=True, state="deleted")
    assert "Restored 1 document, 2 attachments." in done.content.decode()
    assert Document.objects.filter(pk=document.pk).exists()
    assert sorted(Attachment.objects.filter(document=document).values_list("filename", flat=True)) == [
        "Report-0.pdf",
        "Report-1.pdf",
    ]
    assert Attachment.all_objects.get(pk=earlier.pk).is_deleted
    entry = LogEntry.objects.get(action_flag=CHANGE, object_id=str(document.pk))
    assert entry.user == user
    assert entry.get_change_message() == "Restored with what its delete removed: 1 document, 2 attachments"
    restore_events = AuditEvent.objects.filter(action=AuditAction.RESTORE)
    assert set(restore_events.values_list("actor", flat=True)) == {"admin:ann"}
    assert restore_events.count() == 3


def test_restoring_an_attachment_brings_back_the_document_deleted_with_it_only_as_the_whole_batch_choice() -> None:
    user = create_staff("ann", perms=VIEW_AND_DELETE + RESTORE)
    client = client_for(user)
    document = create_document("Report", attachments=1)
    _soft_delete(document)
    attachment = Attachment.all_objects.get(document=document)

    data = {"action": "restore_selected", "_selected_action": [str(attachment.pk)]}
    confirmation = client.post(reverse(ATTACHMENTS) + "?state=deleted", data)
    assert confirmation.context["listing"].model_count() == {"Attachments": 1}
    assert confirmation.context["whole_batch_listing"].model_count() == {"Attachments": 1, "Documents": 1}
    assert "Restore the whole batches" in confirmation.content.decode()
    client.post(reverse(ATTACHMENTS) + "?state=deleted", {**data, "post": "yes"})
    assert Attachment.objects.filter(pk=attachment.pk).exists()
    assert not Document.objects.filter(pk=document.pk).exists(), "the document's delete is not the attachment's"

    Document.deleted_objects.filter(pk=document.pk).restore()
    _soft_delete(document)  # one batch again: the document and its attachment
    client.post(reverse(ATTACHMENTS) + "?state=deleted", {**data, "post": "yes", "whole_batches": "yes"})
    assert Document.objects.filter(pk=document.pk).exists()


def test_a_restore_that_clashes_with_a_live_row_restores_nothing_and_says_why() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE + RESTORE))
    document = create_document("Report")
    _soft_delete(document)
    create_document("Report", attachments=0)  # the title is free again, and now taken

    response = _action(client, "restore_selected", document, confirm=True, state="deleted")
    assert "Nothing was restored." in response.content.decode()
    assert Document.all_objects.get(pk=document.pk).is_deleted
    assert Attachment.deleted_objects.filter(document=document).count() == 2
    assert not LogEntry.objects.filter(action_flag=CHANGE).exists()


def test_the_object_restore_view_confirms_then_restores_and_returns_to_the_object() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE + RESTORE))
    document = create_document("Report")
    _soft_delete(document)
    url = reverse("admin:documents_document_restore", args=[document.pk])
    assert "Yes, restore them" in client.get(url).content.decode()
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:documents_document_change", args=[document.pk])
    assert not Document.all_objects.get(pk=document.pk).is_deleted


def test_hard_delete_needs_its_permission_and_removes_only_deleted_rows() -> None:
    user = create_staff("ann", perms=VIEW_AND_DELETE + RESTORE + HARD_DELETE)
    client = client_for(user)
    alive, gone = create_document("Alive"), create_document("Gone")
    _soft_delete(gone)
    assert "hard_delete_selected" in _action_names(client.get(reverse(CHANGELIST)))

    refused = _action(client, "hard_delete_selected", alive, confirm=True)
    assert "Only deleted documents can be deleted permanently" in refused.content.decode()
    assert Document.objects.filter(pk=alive.pk).exists()

    confirmation = _action(client, "hard_delete_selected", gone, state="deleted")
    assert "cannot be undone" in confirmation.content.decode()
    assert confirmation.context["listing"].model_count() == {"Documents": 1, "Attachments": 2}
    done = _action(client, "hard_delete_selected", gone, confirm=True, state="deleted")
    assert "Permanently deleted 1 document, 2 attachments." in done.content.decode()
    assert not Document.all_objects.filter(pk=gone.pk).exists()
    assert not Attachment.all_objects.filter(document_id=gone.pk).exists()
    assert LogEntry.objects.get(action_flag=DELETION, object_id=str(gone.pk)).user == user
    hard = AuditEvent.objects.filter(action=AuditAction.HARD_DELETE)
    assert set(hard.values_list("actor", flat=True)) == {"admin:ann"}
    assert hard.count() == 3


def test_hard_delete_is_refused_when_the_cascade_reaches_a_model_the_user_may_not_hard_delete() -> None:
    client = client_for(create_staff("ann", perms=[*VIEW_AND_DELETE, "documents.hard_delete_document"]))
    document = create_document("Report")
    _soft_delete(document)
    confirmation = _action(client, "hard_delete_selected", document, state="deleted")
    assert confirmation.context["listing"].perms_lacking == ["attachment"]
    assert "Yes, delete them permanently" not in confirmation.content.decode()
    assert _action(client, "hard_delete_selected", document, confirm=True, state="deleted").status_code == 403
    assert Document.all_objects.filter(pk=document.pk).exists()


def test_hard_delete_view_is_forbidden_without_the_permission() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE + RESTORE))
    document = create_document("Report")
    _soft_delete(document)
    url = reverse("admin:documents_document_hard_delete", args=[document.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Document.all_objects.filter(pk=document.pk).exists()


def test_hard_delete_view_with_permission_removes_the_row_and_returns_to_the_list() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE + HARD_DELETE))
    document = create_document("Report")
    alive = create_document("Alive")
    _soft_delete(document)
    url = reverse("admin:documents_document_hard_delete", args=[document.pk])
    assert "Report-0.pdf" in client.get(url).content.decode()
    response = client.post(url, {"post": "yes"})
    assert response["Location"] == reverse(CHANGELIST)
    assert not Document.all_objects.filter(pk=document.pk).exists()
    live = client.post(reverse("admin:documents_document_hard_delete", args=[alive.pk]), {"post": "yes"})
    assert live["Location"] == reverse("admin:documents_document_change", args=[alive.pk])
    assert Document.objects.filter(pk=alive.pk).exists()


def test_audit_fields_are_read_only_and_stamped_from_the_admin_user() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE))
    document = create_document("Report", attachments=0)
    url = reverse("admin:documents_document_change", args=[document.pk])
    form = client.get(url).context["adminform"]
    assert {"created_by", "updated_by", "deleted_by", "delete_batch", "tenant_id"} <= set(form.readonly_fields)
    data = {
        "title": "Report v2",
        "body": "x",
        "status": "draft",
        "tags": "[]",
        "created_by": "forged",
        "updated_by": "forged",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
    }
    assert client.post(url, data).status_code == 302
    document.refresh_from_db()
    assert (document.title, document.created_by, document.updated_by) == ("Report v2", "script:seed", "admin:ann")
    event = AuditEvent.objects.for_object(Document, document.pk).filter(action=AuditAction.UPDATE).get()
    assert event.actor == "admin:ann"
    assert event.changes["title"] == ["Report", "Report v2"]


def test_restore_lists_one_of_the_documents_deleted_together_and_offers_the_whole_batch_apart() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE + RESTORE))
    chosen, other = create_document("Chosen", attachments=1), create_document("Other", attachments=1)
    with acting_as("admin:bob"):
        Document.objects.filter(pk__in=[chosen.pk, other.pk]).delete()

    confirmation = _action(client, "restore_selected", chosen, state="deleted")
    assert confirmation.context["listing"].model_count() == {"Documents": 1, "Attachments": 1}
    assert confirmation.context["whole_batch_listing"].model_count() == {"Documents": 2, "Attachments": 2}
    _action(client, "restore_selected", chosen, confirm=True, state="deleted")
    assert list(Document.objects.all()) == [chosen]
    assert Document.deleted_objects.filter(pk=other.pk).exists()


def test_a_restore_never_brings_back_a_row_of_a_tenant_the_staff_cannot_see() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE + RESTORE, tenants=[ACME]))
    mine, theirs = create_document("Mine", tenant=ACME), create_document("Theirs", tenant=GLOBEX)
    Document.objects.filter(pk__in=[mine.pk, theirs.pk]).delete()
    # A batch written before batches were per tenant may hold both tenants' rows.
    batch = Document.all_objects.get(pk=mine.pk).delete_batch
    Document.all_objects.filter(pk=theirs.pk).update(delete_batch=batch)
    Attachment.all_objects.filter(document=theirs).update(delete_batch=batch)

    data = {"action": "restore_selected", "_selected_action": [str(mine.pk), str(theirs.pk)]}
    client.post(reverse(CHANGELIST) + "?state=deleted", {**data, "post": "yes", "whole_batches": "yes"})

    assert list(Document.objects.all()) == [mine]
    assert Attachment.objects.filter(document=mine).count() == 2
    assert Attachment.deleted_objects.filter(document=theirs).count() == 2


def test_a_restore_clash_names_the_row_and_the_value() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE + RESTORE))
    document = create_document("Report")
    _soft_delete(document)
    create_document("Report", attachments=0)
    page = _action(client, "restore_selected", document, confirm=True, state="deleted").content.decode()
    assert f"Cannot restore document {document.pk}: a live document already holds" in page
    assert "title=&#x27;Report&#x27;" in page
