"""`HasRequiredAcl` over real HTTP: tokens and session users, per method, URL kwargs, fail closed."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

pytestmark = pytest.mark.urls("tests.accent_auth.urls")

ALICE = "00000000-0000-4000-9000-00000000000a"


def call(client: Client, method: str, path: str, token: str) -> Any:
    return getattr(client, method)(path, headers={"X-Auth-Token": token})


def test_the_acl_grants_the_method(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("alice")  # documents.#, !documents.*.delete, users.me.read
    assert call(client, "get", "/api/v1/probe/documents/", token).status_code == 200
    assert call(client, "post", "/api/v1/probe/documents/", token).status_code == 201
    assert call(client, "get", "/api/v1/probe/documents/1/", token).status_code == 200
    assert call(client, "patch", "/api/v1/probe/documents/1/", token).status_code == 200
    assert call(client, "head", "/api/v1/probe/documents/1/", token).status_code == 200  # HEAD uses GET's ACL


def test_a_missing_acl_is_403_naming_it(client: Client, accent_auth: Any) -> None:
    response = call(client, "delete", "/api/v1/probe/documents/1/", accent_auth.login("alice"))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "permission_denied"
    assert "documents.1.delete" in body["detail"]
    assert body["errors"] == {"required_acl": ["documents.1.delete"]}


def test_a_narrow_token_gets_only_what_it_holds(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("bob")  # documents.read, documents.*.read
    assert call(client, "get", "/api/v1/probe/documents/", token).status_code == 200
    assert call(client, "get", "/api/v1/probe/documents/3/", token).status_code == 200
    assert call(client, "post", "/api/v1/probe/documents/", token).status_code == 403
    assert call(client, "patch", "/api/v1/probe/documents/3/", token).status_code == 403


def test_dots_in_url_values_become_underscores(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("bob")
    # documents.*.read would match "a_b"; with the dot kept, "a.b" would be two segments and fail.
    response = call(client, "get", "/api/v1/probe/documents/a.b/", token)
    assert response.status_code == 404  # authorised, then not found in the tenant


def test_me_in_the_token_matches_the_callers_own_uuid(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("alice")  # users.me.read
    assert call(client, "get", f"/api/v1/probe/users/{ALICE}/", token).status_code == 200
    response = call(client, "get", "/api/v1/probe/users/someone-else/", token)
    assert response.status_code == 403
    assert "users.someone-else.read" in response.json()["detail"]


def test_the_permission_check_is_local(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    call(client, "get", "/api/v1/probe/documents/1/", token)
    call(client, "delete", "/api/v1/probe/documents/1/", token)
    assert accent_auth.calls("GET /token") == 1
    assert accent_auth.calls("POST /token") == 1  # the login; no scopes/check, no ?scope=


def test_an_implemented_method_without_a_declared_acl_is_refused(client: Client, accent_auth: Any) -> None:
    response = call(client, "put", "/api/v1/probe/undeclared-put/", accent_auth.login("root"))
    assert response.status_code == 403
    assert "No ACL is declared for PUT" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"), [("put", "documents/1/"), ("post", "documents/1/"), ("delete", "documents/")]
)
def test_a_method_the_view_lacks_is_405_for_anyone(client: Client, accent_auth: Any, method: str, path: str) -> None:
    for headers in ({"X-Auth-Token": accent_auth.login("root")}, {}):
        response = getattr(client, method)(f"/api/v1/probe/{path}", headers=headers)
        assert response.status_code == 405, (method, path, response.content)
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "method_not_allowed"
        assert method.upper() not in response["Allow"].split(", ")
        assert "GET" in response["Allow"].split(", ")


def test_options_needs_only_a_valid_caller_and_answers_the_views_metadata(client: Client, accent_auth: Any) -> None:
    response = call(client, "options", "/api/v1/probe/documents/1/", accent_auth.login("bob"))
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Probe Document Detail"
    assert client.options("/api/v1/probe/documents/1/").status_code == 401


def test_a_view_that_declares_nothing_is_a_configuration_error(client: Client, accent_auth: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="declares no required_acl"):
        call(client, "get", "/api/v1/probe/undeclared/", accent_auth.login("root"))


# --- Session users (the admin's users in the browsable API) ---------------------------


@pytest.mark.django_db
def test_a_superuser_holds_everything(client: Client, django_user_model: Any) -> None:
    client.force_login(django_user_model.objects.create_superuser("boss", password="x"))
    assert client.delete("/api/v1/probe/documents/1/").status_code == 404  # authorised; no tenant, no document
    assert client.get("/api/v1/probe/whoami/").json() == {"actor": "admin:boss", "tenant": None}


@pytest.mark.django_db
def test_staff_hold_the_acls_of_their_acl_groups(client: Client, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    user.groups.add(Group.objects.create(name="acl:documents.*.read"), Group.objects.create(name="Editors"))
    client.force_login(user)
    assert client.get("/api/v1/probe/documents/1/").status_code == 404  # granted
    response = client.patch("/api/v1/probe/documents/1/")
    assert response.status_code == 403
    assert response.json()["errors"] == {"required_acl": ["documents.1.update"]}


@pytest.mark.django_db
def test_negative_groups_work_for_staff(client: Client, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    user.groups.add(Group.objects.create(name="acl:documents.#"), Group.objects.create(name="acl:!documents.*.delete"))
    client.force_login(user)
    assert client.patch("/api/v1/probe/documents/1/").status_code == 404
    assert client.delete("/api/v1/probe/documents/1/").status_code == 403


@pytest.mark.django_db
def test_non_staff_users_hold_nothing_but_pass_views_without_acl(client: Client, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("visitor", password="x")
    user.groups.add(Group.objects.create(name="acl:#"))
    client.force_login(user)
    assert client.get("/api/v1/probe/documents/").status_code == 403
    assert client.get("/api/v1/probe/whoami/").status_code == 200
