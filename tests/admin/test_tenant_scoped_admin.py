"""Foreign keys in tenant-scoped admin forms reach only the staff's tenants: choices, raw-id, autocomplete, labels."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from apps.core.context import acting_as
from apps.documents.models import Attachment, Document
from tests.admin.conftest import ACME, GLOBEX, client_for, create_document, create_staff
from tests.testapp.models import Folder

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.foreign_key_sites")]

ATTACHMENT_EDITOR = [
    "documents.add_attachment",
    "documents.change_attachment",
    "documents.view_attachment",
    "documents.view_document",
]


@pytest.fixture
def rows() -> dict[str, Document]:
    own = create_document("Acme plan", attachments=1)
    removed = create_document("Acme old", attachments=0)
    with acting_as("admin:someone"):
        removed.delete()
    return {"own": own, "removed": removed, "foreign": create_document("Globex plan", tenant=GLOBEX, attachments=1)}


@pytest.fixture
def ann() -> Any:
    return client_for(create_staff("ann", perms=ATTACHMENT_EDITOR))


def _attachment_form(document: Document, filename: str = "sneaky.pdf") -> dict[str, str]:
    return {"document": str(document.pk), "filename": filename, "content_type": "application/pdf", "size_bytes": "1"}


@pytest.mark.parametrize("site", ["admin", "autocomplete_admin", "select_admin"])
def test_a_crafted_post_attaching_to_another_tenants_document_is_a_form_error(
    ann: Any, rows: dict[str, Document], site: str
) -> None:
    url = reverse(f"{site}:documents_attachment_add")
    for refused in (rows["foreign"], rows["removed"]):
        response = ann.post(url, _attachment_form(refused))
        assert response.status_code == 200
        assert "document" in response.context["adminform"].form.errors
        assert refused.title not in response.content.decode()  # not even as the label of the refused id
    assert not Attachment.all_objects.filter(filename="sneaky.pdf").exists()
    assert ann.post(url, _attachment_form(rows["own"], "fine.pdf")).status_code == 302
    assert Attachment.objects.get(filename="fine.pdf").document == rows["own"]


def test_moving_an_attachment_under_another_tenants_document_is_a_form_error(
    ann: Any, rows: dict[str, Document]
) -> None:
    attachment = Attachment.objects.get(document=rows["own"])
    url = reverse("admin:documents_attachment_change", args=[attachment.pk])
    response = ann.post(url, _attachment_form(rows["foreign"], attachment.filename))
    assert response.status_code == 200
    assert "document" in response.context["adminform"].form.errors
    attachment.refresh_from_db()
    assert attachment.document == rows["own"]


def test_the_raw_id_label_names_only_the_staffs_own_documents(ann: Any, rows: dict[str, Document]) -> None:
    url = reverse("admin:documents_attachment_add")
    assert "Acme plan" in ann.get(url, {"document": str(rows["own"].pk)}).content.decode()
    assert "Globex plan" not in ann.get(url, {"document": str(rows["foreign"].pk)}).content.decode()
    assert ann.get(url, {"document": "not-a-uuid"}).status_code == 200


def test_the_select_offers_only_the_staffs_live_documents(ann: Any, rows: dict[str, Document]) -> None:
    form = ann.get(reverse("select_admin:documents_attachment_add")).context["adminform"].form
    assert list(form.fields["document"].queryset) == [rows["own"]]
    root = client_for(create_staff("root", superuser=True))
    form = root.get(reverse("select_admin:documents_attachment_add")).context["adminform"].form
    assert set(form.fields["document"].queryset) == {rows["own"], rows["foreign"]}


def test_the_autocomplete_answers_only_the_staffs_live_documents(ann: Any, rows: dict[str, Document]) -> None:
    query = {"app_label": "documents", "model_name": "attachment", "field_name": "document"}
    for term in ("", "plan", "Globex", "old"):
        response = ann.get(reverse("autocomplete_admin:autocomplete"), {**query, "term": term})
        assert response.status_code == 200
        texts = [result["text"] for result in response.json()["results"]]
        assert texts == (["Acme plan"] if term in {"", "plan"} else [])


def test_the_lookup_popup_lists_only_the_staffs_documents(ann: Any, rows: dict[str, Document]) -> None:
    popup = ann.get(reverse("admin:documents_document_changelist"), {"_to_field": "id", "_popup": "1"})
    assert [str(obj) for obj in popup.context["cl"].result_list] == ["Acme plan"]


def test_staff_of_both_tenants_cannot_move_a_row_under_the_other_tenants_parent(rows: dict[str, Document]) -> None:
    both = client_for(create_staff("bob", perms=ATTACHMENT_EDITOR, tenants=[ACME, GLOBEX]))
    attachment = Attachment.objects.get(document=rows["own"])
    url = reverse("admin:documents_attachment_change", args=[attachment.pk])
    response = both.post(url, _attachment_form(rows["foreign"], attachment.filename))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["document"] == [
        "This document belongs to another tenant than this row."
    ]
    attachment.refresh_from_db()
    assert attachment.document == rows["own"]
    sibling = create_document("Acme memo", attachments=0)
    assert both.post(url, _attachment_form(sibling, attachment.filename)).status_code == 302  # same tenant: fine
    add = reverse("admin:documents_attachment_add")
    assert both.post(add, _attachment_form(rows["foreign"], "globex.pdf")).status_code == 302  # a new row: any


def test_the_list_filter_by_document_names_only_the_staffs_documents(ann: Any, rows: dict[str, Document]) -> None:
    create_document("Acme memo", attachments=1)  # a filter of one choice is not shown at all
    response = ann.get(reverse("select_admin:documents_attachment_changelist"))
    page = response.content.decode()
    assert "Acme plan" in page
    assert "Globex plan" not in page
    by_document = next(spec for spec in response.context["cl"].filter_specs if spec.title == "document")
    assert sorted(title for _pk, title in by_document.lookup_choices) == ["Acme memo", "Acme plan"]


def _folder(name: str, tenant: Any = ACME, parent: Folder | None = None) -> Folder:
    with acting_as("script:seed"):
        return Folder.objects.create(name=name, tenant_id=tenant, parent=parent)


def _folder_form(name: str, parent: Folder | None, tenant: Any = ACME) -> dict[str, str]:
    return {"tenant": str(tenant), "name": name, "status": "draft", "parent": str(parent.pk) if parent else ""}


def test_a_folder_and_its_parent_share_one_tenant_even_for_staff_of_every_tenant() -> None:
    root = client_for(create_staff("root", superuser=True))
    acme, globex = _folder("Acme root"), _folder("Globex root", GLOBEX)
    add = reverse("select_admin:testapp_folder_add")
    refused = root.post(add, _folder_form("Sneaky", parent=globex))
    assert refused.context["adminform"].form.errors["parent"] == [
        "This folder belongs to another tenant than this row."
    ]
    assert root.post(add, _folder_form("Fine", parent=acme)).status_code == 302
    child = Folder.objects.get(name="Fine")
    moved = root.post(reverse("select_admin:testapp_folder_change", args=[child.pk]), _folder_form("Fine", globex))
    assert "parent" in moved.context["adminform"].form.errors
    child.refresh_from_db()
    assert (child.tenant_id, child.parent) == (ACME, acme)
    assert not Folder.all_objects.filter(name="Sneaky").exists()


def test_a_new_tenant_owned_model_gets_the_scoped_choices_and_the_constraint_check() -> None:
    folders = ["testapp.add_folder", "testapp.change_folder", "testapp.view_folder"]
    ann = client_for(create_staff("ann", perms=folders))
    acme, _globex = _folder("Acme root"), _folder("Globex root", GLOBEX)
    add = reverse("select_admin:testapp_folder_add")
    assert list(ann.get(add).context["adminform"].form.fields["parent"].queryset) == [acme]
    duplicate = ann.post(add, _folder_form("Acme root", parent=None))
    assert duplicate.context["adminform"].form.errors["name"] == ["Folder with this Name already exists."]
    assert Folder.objects.filter(name="Acme root").count() == 1
