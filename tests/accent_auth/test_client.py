"""The Accent-Auth client: built on first use from settings, rebuilt when they change."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.accent_auth import client as client_module
from apps.accent_auth.client import AccentAuthDisabled, AccentAuthUnavailable, TenantRefused, get_client, reset_client
from tests.processes import free_port

ACME = "00000000-0000-4000-8000-00000000000b"


def test_no_client_exists_until_one_is_needed(settings: SettingsWrapper) -> None:
    reset_client()
    settings.ACCENT_AUTH_URL = "http://127.0.0.1:1/0.1"  # nothing listens; nothing connects either
    assert client_module._client is None


def test_the_client_takes_its_timeouts_and_pool_from_settings(settings: SettingsWrapper, accent_auth: Any) -> None:
    settings.ACCENT_AUTH_TIMEOUT = 3.5
    settings.ACCENT_AUTH_CONNECT_TIMEOUT = 0.5
    settings.ACCENT_AUTH_MAX_CONNECTIONS = 7
    client = get_client()
    assert client is get_client()  # one per process
    assert client.base_url == accent_auth.url
    timeout = client._http.timeout
    assert (timeout.read, timeout.connect) == (3.5, 0.5)
    assert client._http._transport._pool._max_connections == 7  # type: ignore[attr-defined]


def test_changing_the_url_rebuilds_the_client(settings: SettingsWrapper, accent_auth: Any) -> None:
    first = get_client()
    settings.ACCENT_AUTH_URL = accent_auth.url + "/"
    assert get_client() is not first


def test_disabled_without_a_url(settings: SettingsWrapper) -> None:
    settings.ACCENT_AUTH_URL = None
    with pytest.raises(AccentAuthDisabled):
        get_client()


def test_health_scopes_and_tenant_refusal(accent_auth: Any) -> None:
    client = get_client()
    assert client.is_healthy()
    accent_auth.set_healthy(False)
    assert not client.is_healthy()
    token = accent_auth.login("alice")
    assert client.check_scopes(token, ["documents.1.read"]) == {"documents.1.read": True}
    assert client.check_scopes("00000000-0000-4000-8000-000000000000", ["x"]) is None
    with pytest.raises(TenantRefused):
        client.check_scopes(token, ["x"], tenant=ACME)
    with pytest.raises(TenantRefused):
        client.get_token(token, tenant=ACME)
    assert client.revoke_token(token)
    assert client.get_token(token) is None
    assert not client.revoke_token("not-a-uuid")


def test_unreachable_is_unavailable(settings: SettingsWrapper) -> None:
    settings.ACCENT_AUTH_URL = f"http://127.0.0.1:{free_port()}/0.1"
    with pytest.raises(AccentAuthUnavailable):
        get_client().is_healthy()
