"""A duplicate of a partial unique constraint (`unique_for_alive_rows("tenant_id", "title")`) is a form error.

`tenant_id` is not a form field (the add form asks for the tenant, the change form does
not show it), so Django's ModelForm skips the constraint; the admin validates it anyway.
"""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.contrib.admin import AdminSite
from django.test import RequestFactory
from django.urls import reverse

from apps.core.context import acting_as
from apps.documents.admin import DocumentAdmin
from apps.documents.models import Document
from tests.admin.conftest import (
    ACME,
    GLOBEX,
    VIEW_AND_DELETE,
    client_for,
    create_document,
    create_staff,
    rival_transaction,
)

TAKEN = "Document with this Title already exists."


def _editor() -> Any:
    return client_for(create_staff("ann", perms=["documents.add_document", *VIEW_AND_DELETE], tenants=[ACME, GLOBEX]))


def _document_form(title: str, tenant: Any = ACME) -> dict[str, str]:
    return {
        "tenant": str(tenant),
        "title": title,
        "body": "",
        "status": "draft",
        "tags": "[]",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
    }


def _title_errors(response: Any) -> list[str]:
    assert response.status_code == 200, "a duplicate must be answered with the form, not saved or a server error"
    return list(response.context["adminform"].form.errors.get("title", []))


@pytest.mark.django_db
def test_adding_a_title_a_live_row_of_the_tenant_holds_is_a_title_error() -> None:
    client = _editor()
    create_document("Report", attachments=0)
    add = reverse("admin:documents_document_add")
    assert _title_errors(client.post(add, _document_form("Report"))) == [TAKEN]
    assert Document.objects.filter(title="Report").count() == 1

    assert client.post(add, _document_form("Report", GLOBEX)).status_code == 302  # another tenant: free
    removed = create_document("Old", attachments=0)
    with acting_as("admin:someone"):
        removed.delete()
    assert client.post(add, _document_form("Old")).status_code == 302  # a deleted row holds nothing


@pytest.mark.django_db
def test_renaming_to_a_title_a_live_row_of_the_tenant_holds_is_a_title_error() -> None:
    client = _editor()
    create_document("Report", attachments=0)
    draft = create_document("Draft", attachments=0)
    change = reverse("admin:documents_document_change", args=[draft.pk])
    assert _title_errors(client.post(change, _document_form("Report"))) == [TAKEN]
    draft.refresh_from_db()
    assert draft.title == "Draft"
    assert client.post(change, _document_form("Draft")).status_code == 302  # its own title is no clash


@pytest.mark.django_db(transaction=True)
def test_a_rival_insert_committed_after_the_form_was_validated_is_a_title_error(postgres: None) -> None:
    """The rival's row is uncommitted while the admin validates, committed before its INSERT returns."""
    client = _editor()
    with rival_transaction("script:rival", hold=lambda: Document.objects.create(title="Report", tenant_id=ACME)):
        response = client.post(reverse("admin:documents_document_add"), _document_form("Report"))
    assert _title_errors(response) == [TAKEN]
    assert list(Document.objects.filter(title="Report").values_list("created_by", flat=True)) == ["script:rival"]


@pytest.mark.django_db
def test_an_admins_own_form_keeps_the_check() -> None:
    class TitleOnlyForm(forms.ModelForm):  # type: ignore[type-arg]
        class Meta:
            model = Document
            fields = ["title"]

    class TitleOnlyDocumentAdmin(DocumentAdmin):
        form = TitleOnlyForm
        fields = ["title"]

    create_document("Report", attachments=0)
    request = RequestFactory().get("/admin/")
    request.user = create_staff("ann", perms=["documents.add_document"])
    form_class = TitleOnlyDocumentAdmin(Document, AdminSite()).get_form(request)
    assert issubclass(form_class, TitleOnlyForm)
    assert form_class(data={"tenant": str(ACME), "title": "Report"}).errors["title"] == [TAKEN]
