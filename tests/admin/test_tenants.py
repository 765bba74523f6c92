"""Staff see only their tenants' rows: `tenant:<uuid>` groups, `tenant:*`, superusers; fail closed."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from apps.core.admin import ALL_TENANTS_GROUP, staff_tenants
from apps.documents.models import Attachment, Document
from tests.admin.conftest import ACME, GLOBEX, VIEW_AND_DELETE, client_for, create_document, create_staff

pytestmark = pytest.mark.django_db

DOCUMENTS = "admin:documents_document_changelist"


def _listed(client: object, name: str = DOCUMENTS) -> set[str]:
    response = client.get(reverse(name), {"state": "all"})  # type: ignore[attr-defined]
    return {str(obj) for obj in response.context["cl"].result_list}


def test_group_names_map_staff_to_tenants() -> None:
    limited = create_staff("ann", tenants=[ACME, "not-a-uuid"])
    assert staff_tenants(limited).ids == frozenset({ACME})
    assert not staff_tenants(limited).allows(GLOBEX)
    everywhere = create_staff("bob", tenants=[])
    everywhere.groups.add(Group.objects.create(name=ALL_TENANTS_GROUP))
    assert staff_tenants(everywhere).all_tenants
    assert staff_tenants(create_staff("root", superuser=True)).all_tenants
    assert staff_tenants(create_staff("none", tenants=[])).ids == frozenset()
    not_staff = User.objects.create_user("eve", password="x")
    not_staff.groups.add(Group.objects.get(name=f"tenant:{ACME}"))
    assert staff_tenants(not_staff) == staff_tenants(create_staff("nobody", tenants=[]))


def test_staff_limited_to_a_tenant_sees_and_reaches_only_its_rows() -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE, tenants=[ACME]))
    create_document("Acme plan")
    foreign = create_document("Globex plan", tenant=GLOBEX)
    assert _listed(client) == {"Acme plan"}
    assert _listed(client, "admin:documents_attachment_changelist") == {"Acme plan-0.pdf", "Acme plan-1.pdf"}
    change = client.get(reverse("admin:documents_document_change", args=[foreign.pk]))
    assert change.status_code == 302  # "doesn't exist", as for a missing row: no leak of other tenants
    delete = client.post(reverse("admin:documents_document_delete", args=[foreign.pk]), {"post": "yes"})
    assert delete.status_code == 302
    assert Document.objects.filter(pk=foreign.pk).exists()
    selected = {"action": "delete_selected", "_selected_action": [str(foreign.pk)], "post": "yes"}
    client.post(reverse(DOCUMENTS), selected)
    assert Document.objects.filter(pk=foreign.pk).exists()
    assert Attachment.objects.filter(document=foreign).count() == 2


def test_staff_in_no_tenant_group_sees_nothing_and_superusers_or_all_tenant_staff_see_everything() -> None:
    create_document("Acme plan")
    create_document("Globex plan", tenant=GLOBEX)
    assert _listed(client_for(create_staff("none", perms=VIEW_AND_DELETE, tenants=[]))) == set()
    assert _listed(client_for(create_staff("root", superuser=True))) == {"Acme plan", "Globex plan"}
    everywhere = create_staff("bob", perms=VIEW_AND_DELETE, tenants=[])
    everywhere.groups.add(Group.objects.create(name=ALL_TENANTS_GROUP))
    assert _listed(client_for(everywhere)) == {"Acme plan", "Globex plan"}


def test_the_add_form_offers_only_the_staff_tenants_and_stamps_the_admin_user() -> None:
    other = uuid.UUID("00000000-0000-4000-8000-0000000000c3")
    client = client_for(create_staff("ann", perms=["documents.add_document", *VIEW_AND_DELETE], tenants=[ACME, other]))
    url = reverse("admin:documents_document_add")
    field = client.get(url).context["adminform"].form.fields["tenant"]
    assert {value for value, _ in field.choices} == {str(ACME), str(other)}
    data = {
        "tenant": str(GLOBEX),
        "title": "Sneaky",
        "status": "draft",
        "tags": "[]",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
    }
    assert client.post(url, data).status_code == 200  # not one of hers: the form refuses it
    assert not Document.all_objects.filter(title="Sneaky").exists()
    assert client.post(url, {**data, "tenant": str(ACME), "title": "Fine"}).status_code == 302
    created = Document.objects.get(title="Fine")
    assert (created.tenant_id, created.created_by, created.updated_by) == (ACME, "admin:ann", "admin:ann")
