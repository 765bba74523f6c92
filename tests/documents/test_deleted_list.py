"""`GET /api/v1/documents/?deleted=true`: the tenant's deleted documents (restore candidates), behind their own ACL."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client

from apps.accent_auth.acl import AccessCheck
from apps.core.context import acting_as, in_tenant
from apps.documents.services import document_create, document_delete
from devtools.accent_auth_standin import DEFAULT_CONFIG
from tests.documents.test_api import ACME, ALICE, GLOBEX, URL, Api, create, problem

pytestmark = pytest.mark.django_db

ROOT = "00000000-0000-4000-9000-000000000001"


@pytest.fixture
def alice(client: Client, accent_auth: Any) -> Api:
    """The acme tenant admin: documents.# (the deleted list included), but no delete."""
    return Api(client, accent_auth.login("alice"))


@pytest.fixture
def users(client: Client, accent_auth: Any) -> dict[str, Api]:
    """`root` acting in acme (deletes), and `bob` (globex; reads documents, not the deleted ones)."""
    return {"root": Api(client, accent_auth.login("root"), tenant=ACME), "bob": Api(client, accent_auth.login("bob"))}


def deleted_in_acme(root_in_acme: Api, *titles: str, **fields: Any) -> list[dict[str, Any]]:
    documents = [create(root_in_acme, title, **fields) for title in titles]
    for document in documents:
        assert root_in_acme.delete(f"{URL}{document['id']}/").status_code == 204
    return documents


def titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["title"] for item in response.json()["results"]]


def test_lists_the_tenants_deleted_documents_with_who_deleted_them_and_when(alice: Api, users: dict[str, Api]) -> None:
    root_in_acme = users["root"]
    create(root_in_acme, "Still alive")
    (gone,) = deleted_in_acme(root_in_acme, "Gone")
    with in_tenant(GLOBEX), acting_as("globex-admin"):  # another tenant's deleted row never shows
        document_delete(document_id=document_create(title="Globex gone").pk)

    response = alice.get(URL, deleted="true")
    (item,) = response.json()["results"]
    assert item["id"] == gone["id"]
    assert (item["title"], item["deleted_by"], item["created_by"]) == ("Gone", ROOT, ROOT)
    assert datetime.datetime.fromisoformat(item["deleted_at"]) >= datetime.datetime.fromisoformat(gone["created_at"])
    assert titles(alice.get(URL)) == ["Still alive"]  # the live list is unchanged
    assert titles(alice.get(URL, deleted="false")) == ["Still alive"]


def test_needs_the_documents_deleted_read_acl(users: dict[str, Api]) -> None:
    bob = users["bob"]
    body = problem(bob.get(URL, deleted="true"), 403)
    assert body["errors"] == {"required_acl": ["documents.deleted.read"]}
    assert bob.get(URL).status_code == 200  # reading live documents still works


def test_an_unknown_deleted_value_is_a_400(alice: Api) -> None:
    assert problem(alice.get(URL, deleted="maybe"), 400)["errors"] == {"deleted": ["Got 'maybe'."]}


def test_cursor_pages_newest_deletion_first(alice: Api, users: dict[str, Api]) -> None:
    root_in_acme = users["root"]
    deleted_in_acme(root_in_acme, "First", "Second", "Third")
    first = alice.get(URL, deleted="true", limit=2)
    assert titles(first) == ["Third", "Second"]
    assert "deleted=true" in first.json()["next"]
    second = alice.get(URL, deleted="true", limit=2, cursor=first.json()["next_cursor"])
    assert titles(second) == ["First"]
    assert titles(alice.get(URL, deleted="true", ordering="title")) == ["First", "Second", "Third"]
    assert titles(alice.get(URL, deleted="true", ordering="deleted_at")) == ["First", "Second", "Third"]
    # Only the deleted list orders by deletion time: live rows have none.
    assert problem(alice.get(URL, ordering="deleted_at"), 400)["code"] == "invalid"


def test_offset_pages_with_a_total(alice: Api, users: dict[str, Api]) -> None:
    root_in_acme = users["root"]
    deleted_in_acme(root_in_acme, "A", "B", "C")
    create(root_in_acme, "Live")
    page = alice.get(URL, deleted="true", offset=1, limit=1, total="true")
    assert page.status_code == 200
    body = page.json()
    assert ([item["title"] for item in body["results"]], body["total"]) == (["B"], 3)
    assert {"deleted_at", "deleted_by"} <= set(body["results"][0])
    assert "deleted=true" in body["next"]


def test_the_live_list_filters_apply(alice: Api, users: dict[str, Api]) -> None:
    root_in_acme = users["root"]
    deleted_in_acme(root_in_acme, "Budget draft", tags=["finance"])
    deleted_in_acme(root_in_acme, "Travel plan", status="published")
    assert titles(alice.get(URL, deleted="true", tag="finance")) == ["Budget draft"]
    assert titles(alice.get(URL, deleted="true", status="published")) == ["Travel plan"]
    assert titles(alice.get(URL, deleted="true", q="budget")) == ["Budget draft"]
    assert titles(alice.get(URL, deleted="true", offset=0, status="published")) == ["Travel plan"]
    assert problem(alice.get(URL, deleted="true", status="lost"), 400)["errors"]["status"]


def test_a_restored_document_leaves_the_deleted_list(alice: Api, users: dict[str, Api]) -> None:
    root_in_acme = users["root"]
    (document,) = deleted_in_acme(root_in_acme, "Back soon")
    assert titles(alice.get(URL, deleted="true")) == ["Back soon"]  # now cached
    assert alice.post(f"{URL}{document['id']}/restore/").status_code == 200
    assert titles(alice.get(URL, deleted="true")) == []
    assert titles(alice.get(URL)) == ["Back soon"]


def test_the_stand_in_gives_the_acl_to_the_tenant_admin_not_to_the_reader() -> None:
    users = {user.username: user for user in DEFAULT_CONFIG.users}
    can = {
        name: AccessCheck(ALICE, "", user.acl).matches_required_access("documents.deleted.read")
        for name, user in users.items()
    }
    assert can == {"root": True, "alice": True, "bob": False}
