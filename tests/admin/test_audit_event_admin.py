"""The audit log admin (read-only for everyone) and the per-object History page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.context import acting_as
from apps.core.models import AuditAction, AuditEvent
from apps.documents.models import Document
from tests.admin.conftest import GLOBEX, VIEW_AND_DELETE, client_for, create_document, create_staff

pytestmark = pytest.mark.django_db

EVENTS = "admin:core_auditevent_changelist"


def test_nobody_adds_changes_or_deletes_audit_events_not_even_a_superuser() -> None:
    client = client_for(create_staff("root", superuser=True))
    document = create_document("Report", attachments=0)
    event = AuditEvent.objects.for_object(Document, document.pk).get()
    assert client.get(reverse("admin:core_auditevent_add")).status_code == 403
    detail_url = reverse("admin:core_auditevent_change", args=[event.pk])
    detail = client.get(detail_url)
    page = detail.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in page
    assert '<table class="audit-diff">' in page
    assert "Report" in page
    assert client.post(detail_url, {"actor": "forged"}).status_code == 403
    assert client.get(reverse("admin:core_auditevent_delete", args=[event.pk])).status_code == 403
    changelist = client.get(reverse(EVENTS))
    assert "delete_selected" not in changelist.content.decode()
    assert AuditEvent.objects.get(pk=event.pk).actor == "script:seed"
    link = reverse("admin:documents_document_change", args=[document.pk])
    assert f'<a href="{link}">' in changelist.content.decode()


def test_the_log_is_searchable_by_exact_actor_and_filtered_by_model() -> None:
    client = client_for(create_staff("root", superuser=True))
    document = create_document("Report", attachments=1)
    with acting_as("admin:zed"):
        document.delete()
    by_actor = client.get(reverse(EVENTS), {"q": "admin:zed"}).context["cl"].result_list
    assert {e.action for e in by_actor} == {AuditAction.SOFT_DELETE}
    assert len(by_actor) == 2
    documents_only = client.get(reverse(EVENTS), {"model_label": "documents.document"}).context["cl"].result_list
    assert {e.model_label for e in documents_only} == {"documents.document"}


def test_staff_limited_to_tenants_see_only_their_tenants_events() -> None:
    user = create_staff("ann", perms=VIEW_AND_DELETE)
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    create_document("Acme plan", attachments=0)
    create_document("Globex plan", tenant=GLOBEX, attachments=0)
    events = client_for(user).get(reverse(EVENTS)).context["cl"].result_list
    assert [e.changes["title"][1] for e in events] == ["Acme plan"]


def test_history_lists_the_objects_audit_events_with_diffs_in_constant_queries() -> None:
    user = create_staff("ann", perms=VIEW_AND_DELETE)
    client = client_for(user)
    document = create_document("Report", attachments=0)
    url = reverse("admin:documents_document_history", args=[document.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(5):
        with acting_as("admin:ann"):
            Document.objects.filter(pk=document.pk).update(title=f"Report v{n}")
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)
    entries = response.context["audit_entries"]
    assert [e.event.action for e in entries] == [AuditAction.UPDATE] * 5 + [AuditAction.CREATE]
    newest = entries[0]
    assert (newest.event.actor, [(d.field, d.old, d.new) for d in newest.diff]) == (
        "admin:ann",
        [("title", "Report v3", "Report v4")],
    )
    assert "Report v3" in response.content.decode()


def test_history_of_a_deleted_row_is_reachable_and_a_stranger_gets_none() -> None:
    document = create_document("Report", attachments=0)
    document.delete()
    url = reverse("admin:documents_document_history", args=[document.pk])
    response = client_for(create_staff("ann", perms=VIEW_AND_DELETE)).get(url)
    assert [e.event.action for e in response.context["audit_entries"]] == [
        AuditAction.SOFT_DELETE,
        AuditAction.CREATE,
    ]
    stranger = client_for(create_staff("bob", perms=VIEW_AND_DELETE, tenants=[GLOBEX]))
    assert stranger.get(url).status_code == 302  # not in her tenants: as if it did not exist
