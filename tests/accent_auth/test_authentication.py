"""Token authentication over real HTTP against the stand-in: statuses, caching, revoke."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.accent_auth import token_cache
from tests.accent_auth.urls import ACME

pytestmark = pytest.mark.urls("tests.accent_auth.urls")

ALICE = "00000000-0000-4000-9000-00000000000a"
PROBLEM = "application/problem+json"


def get(client: Client, path: str, token: str | None = None, **headers: str) -> Any:
    if token is not None:
        headers["X-Auth-Token"] = token
    return client.get(path, headers=headers)


def test_a_valid_token_authenticates_and_sets_actor_and_tenant(client: Client, accent_auth: Any) -> None:
    response = get(client, "/api/v1/probe/whoami/", accent_auth.login("alice"))
    assert response.status_code == 200
    assert response.json() == {"actor": ALICE, "tenant": ACME}


def test_authorization_bearer_is_accepted_too(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    response = client.get("/api/v1/probe/whoami/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["actor"] == ALICE


def test_a_malformed_bearer_header_is_401(client: Client, accent_auth: Any) -> None:
    response = client.get("/api/v1/probe/whoami/", headers={"Authorization": "Bearer a b"})
    assert response.status_code == 401
    assert "Malformed" in response.json()["detail"]


def test_no_token_is_401_problem_with_a_challenge(client: Client, accent_auth: Any) -> None:
    response = get(client, "/api/v1/probe/whoami/")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("token", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_token_is_401(client: Client, accent_auth: Any, token: str) -> None:
    response = get(client, "/api/v1/probe/whoami/", token)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["detail"] == "The token is unknown, revoked or expired."


def test_an_unknown_token_is_remembered_briefly(client: Client, accent_auth: Any) -> None:
    token = str(uuid.uuid4())
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 401
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 401
    assert accent_auth.calls("GET /token") == 1
    token_cache.forget_token(token)


def test_a_warm_token_is_served_from_the_cache(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    for _ in range(3):
        assert get(client, "/api/v1/probe/whoami/", token).status_code == 200
    assert accent_auth.calls("GET /token") == 1


def test_the_cache_key_is_a_hash_of_the_whole_token(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    get(client, "/api/v1/probe/whoami/", token)
    key = token_cache.token_key(token)
    assert token not in key
    assert token[:16] not in key
    assert cache.get(key)["auth_id"] == ALICE
    # Two tokens sharing a 16-character prefix never share an entry.
    assert token_cache.token_key(token[:16] + "0" * 20) != key


def test_an_expired_token_is_401_and_the_cache_never_outlives_it(
    client: Client, accent_auth: Any, settings: SettingsWrapper
) -> None:
    settings.ACCENT_AUTH_CACHE_TTL = 3600
    # 5 s of life: the first request must fit in it on a loaded machine. The cache entry must end with the
    # token (a few seconds), not with the hour of ACCENT_AUTH_CACHE_TTL; 10 s past expiry is room for load.
    issued = time.monotonic()
    token = accent_auth.login("alice", expiration=5)
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 200
    deadline = issued + 5 + 10
    while get(client, "/api/v1/probe/whoami/", token).status_code == 200:
        assert time.monotonic() < deadline, "the cached token outlived its expiry"
        time.sleep(0.2)
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 401


def test_revoke_through_the_service_drops_the_cache_entry(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    other = accent_auth.login("alice")
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 200
    response = client.delete("/api/v1/auth/token", headers={"X-Auth-Token": token})
    assert response.status_code == 204
    assert cache.get(token_cache.token_key(token)) is None
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 401
    assert get(client, "/api/v1/probe/whoami/", other).status_code == 200  # only that token ended


def test_a_revoke_elsewhere_is_seen_once_the_cache_entry_expires(
    client: Client, accent_auth: Any, settings: SettingsWrapper
) -> None:
    settings.ACCENT_AUTH_CACHE_TTL = 5  # the second request must come within it, on a loaded machine too
    token = accent_auth.login("alice")
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 200
    accent_auth.revoke_all()
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 200  # still cached: that is the trade-off
    time.sleep(5.2)  # from after the entry was written: past its TTL whatever the load
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 401


def test_accent_auth_unavailable_and_not_cached_is_503(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    accent_auth.set_unavailable(True)
    response = get(client, "/api/v1/probe/whoami/", token)
    assert response.status_code == 503
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "dependency_unavailable"


def test_accent_auth_unreachable_and_not_cached_is_503(
    client: Client, accent_auth: Any, settings: SettingsWrapper
) -> None:
    from tests.processes import free_port

    token = accent_auth.login("alice")
    settings.ACCENT_AUTH_URL = f"http://127.0.0.1:{free_port()}/0.1"
    response = get(client, "/api/v1/probe/whoami/", token)
    assert response.status_code == 503
    assert "cannot be reached" in response.json()["detail"]


def test_a_cached_token_survives_accent_auth_going_down(client: Client, accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 200
    accent_auth.set_unavailable(True)
    assert get(client, "/api/v1/probe/whoami/", token).status_code == 200


def test_with_accent_auth_unset_a_token_gets_a_clear_401(client: Client, settings: SettingsWrapper) -> None:
    settings.ACCENT_AUTH_URL = None
    response = get(client, "/api/v1/probe/whoami/", str(uuid.uuid4()))
    assert response.status_code == 401
    assert "ACCENT_AUTH_URL is not set" in response.json()["detail"]


@pytest.mark.django_db
def test_with_accent_auth_unset_session_auth_still_works(
    client: Client, settings: SettingsWrapper, django_user_model: Any
) -> None:
    settings.ACCENT_AUTH_URL = None
    client.force_login(django_user_model.objects.create_user("viewer", password="x"))
    response = get(client, "/api/v1/probe/whoami/")
    assert response.status_code == 200
    assert response.json() == {"actor": "admin:viewer", "tenant": None}


def test_the_token_never_reaches_the_logs(client: Client, accent_auth: Any, caplog: pytest.LogCaptureFixture) -> None:
    token = accent_auth.login("alice")
    with caplog.at_level("INFO"):
        get(client, "/api/v1/probe/whoami/", token)
    assert token not in caplog.text
