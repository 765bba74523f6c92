"""Tenancy through the API: the token's tenant, `Accent-Tenant` sub-tenants, isolation."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from devtools.accent_auth_standin import MASTER_TENANT
from tests.accent_auth.urls import ACME, GLOBEX

pytestmark = pytest.mark.urls("tests.accent_auth.urls")


def get(client: Client, path: str, token: str, tenant: str | None = None) -> Any:
    headers = {"X-Auth-Token": token}
    if tenant is not None:
        headers["Accent-Tenant"] = tenant
    return client.get(path, headers=headers)


def test_the_tenant_is_the_tokens_own_by_default(client: Client, accent_auth: Any) -> None:
    assert get(client, "/api/v1/probe/documents/", accent_auth.login("alice")).json()["documents"] == ["1", "2"]
    assert get(client, "/api/v1/probe/documents/", accent_auth.login("bob")).json()["documents"] == ["3"]


def test_tenants_are_isolated_through_the_api(client: Client, accent_auth: Any) -> None:
    bob = accent_auth.login("bob")  # globex; holds documents.*.read
    response = get(client, "/api/v1/probe/documents/1/", bob)  # acme's document
    assert response.status_code == 404
    assert get(client, "/api/v1/probe/documents/3/", bob).json()["title"] == "globex plan"


def test_a_sub_tenant_in_the_header_is_accepted_and_cached(client: Client, accent_auth: Any) -> None:
    root = accent_auth.login("root")  # master tenant, parent of acme and globex
    for _ in range(2):
        response = get(client, "/api/v1/probe/documents/", root, tenant=GLOBEX)
        assert response.status_code == 200
        assert response.json() == {"actor": response.json()["actor"], "tenant": GLOBEX, "documents": ["3"]}
    # One validation and one tenant confirmation; the second request used the cache only.
    assert accent_auth.calls("GET /token") == 2


def test_the_tokens_own_tenant_in_the_header_needs_no_confirmation(client: Client, accent_auth: Any) -> None:
    response = get(client, "/api/v1/probe/whoami/", accent_auth.login("alice"), tenant=ACME)
    assert response.json()["tenant"] == ACME
    assert accent_auth.calls("GET /token") == 1


def test_a_tenant_that_is_not_a_sub_tenant_is_refused(client: Client, accent_auth: Any) -> None:
    alice = accent_auth.login("alice")  # acme
    for tenant in (GLOBEX, MASTER_TENANT):  # a sibling, and the parent
        response = get(client, "/api/v1/probe/whoami/", alice, tenant=tenant)
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        assert tenant in response.json()["detail"]


def test_a_refusal_is_cached_briefly(client: Client, accent_auth: Any) -> None:
    alice = accent_auth.login("alice")
    assert get(client, "/api/v1/probe/whoami/", alice, tenant=GLOBEX).status_code == 403
    assert get(client, "/api/v1/probe/whoami/", alice, tenant=GLOBEX).status_code == 403
    assert accent_auth.calls("GET /token") == 2


def test_a_malformed_tenant_header_is_400(client: Client, accent_auth: Any) -> None:
    response = get(client, "/api/v1/probe/whoami/", accent_auth.login("alice"), tenant="acme")
    assert response.status_code == 400
    assert "Accent-Tenant" in response.json()["detail"]


def test_tenant_confirmation_when_accent_auth_is_down_is_503(client: Client, accent_auth: Any) -> None:
    root = accent_auth.login("root")
    assert get(client, "/api/v1/probe/whoami/", root).status_code == 200  # token cached
    accent_auth.set_unavailable(True)
    assert get(client, "/api/v1/probe/whoami/", root).status_code == 200
    assert get(client, "/api/v1/probe/whoami/", root, tenant=ACME).status_code == 503


def test_a_token_revoked_while_cached_is_401_on_tenant_confirmation(client: Client, accent_auth: Any) -> None:
    root = accent_auth.login("root")
    assert get(client, "/api/v1/probe/whoami/", root).status_code == 200
    accent_auth.revoke_all()
    assert get(client, "/api/v1/probe/whoami/", root, tenant=ACME).status_code == 401
    assert get(client, "/api/v1/probe/whoami/", root).status_code == 401  # the entry was dropped
