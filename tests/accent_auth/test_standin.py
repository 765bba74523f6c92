"""The stand-in speaks the contract's JSON and status codes; `manage.py run_accent_auth` serves it."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.accent_auth.standin import MASTER_TENANT, StandInAccentAuth, load_config
from tests.processes import ROOT, clean_env, free_port, running_server

ACME = "00000000-0000-4000-8000-00000000000a"
GLOBEX = "00000000-0000-4000-8000-00000000000b"


def login(url: str, username: str, password: str | None = None, **body: Any) -> httpx.Response:
    return httpx.post(f"{url}/token", auth=(username, password or username), json=body or None)


def test_login_returns_the_contracts_token(accent_auth: Any) -> None:
    response = login(accent_auth.url, "alice", expiration=60)
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) >= {
        "token", "auth_id", "accent_user_uuid", "accent_uuid", "issued_at", "expires_at",
        "utc_issued_at", "utc_expires_at", "acl", "session_uuid", "remote_addr", "user_agent", "metadata",
    }  # fmt: skip
    assert uuid.UUID(data["token"])
    assert data["metadata"]["tenant_uuid"] == ACME
    assert data["metadata"]["purpose"] == "user"
    assert "!documents.*.delete" in data["acl"]


@pytest.mark.parametrize(("password", "body", "status"), [("wrong", {}, 401), (None, {"expiration": 0}, 400)])
def test_login_refusals(accent_auth: Any, password: str | None, body: dict[str, Any], status: int) -> None:
    response = login(accent_auth.url, "alice", password, **body)
    assert response.status_code == status
    assert response.json()["status_code"] == status
    assert isinstance(response.json()["reason"], list)


def test_token_get_head_scope_tenant_delete(accent_auth: Any) -> None:
    token = accent_auth.login("root")
    base = f"{accent_auth.url}/token/{token}"
    assert httpx.get(base).json()["data"]["token"] == token
    assert httpx.head(base).status_code == 204
    assert httpx.head(base, params={"scope": "documents.1.read"}).status_code == 204
    assert httpx.head(base, params={"tenant": ACME}).status_code == 204  # a sub-tenant
    alice = accent_auth.login("alice")
    assert httpx.get(f"{accent_auth.url}/token/{alice}", params={"scope": "documents.1.delete"}).status_code == 403
    assert httpx.get(f"{accent_auth.url}/token/{alice}", params={"tenant": MASTER_TENANT}).status_code == 403
    assert httpx.delete(base).json() == {"data": {"message": "success"}}
    missing = httpx.get(base)
    assert missing.status_code == 404
    assert missing.json()["reason"] == ["No such token"]
    assert httpx.get(f"{accent_auth.url}/token/not-a-uuid").status_code == 404


def test_scopes_check(accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    url = f"{accent_auth.url}/token/{token}/scopes/check"
    response = httpx.post(url, json={"scopes": ["documents.1.read", "documents.1.delete"]})
    assert response.json() == {"scopes": {"documents.1.read": True, "documents.1.delete": False}}
    assert httpx.post(url, json={"scopes": ["x"], "tenant_uuid": GLOBEX}).status_code == 403
    assert httpx.post(url, json={"nope": 1}).status_code == 400
    assert httpx.post(f"{accent_auth.url}/token/{uuid.uuid4()}/scopes/check", json={"scopes": []}).status_code == 404


def test_status_can_be_made_to_fail(accent_auth: Any) -> None:
    assert httpx.head(f"{accent_auth.url}/status").status_code == 200
    accent_auth.set_healthy(False)
    assert httpx.head(f"{accent_auth.url}/status").status_code == 503
    accent_auth.set_unavailable(True)
    assert login(accent_auth.url, "alice").status_code == 503


def test_tokens_expire(accent_auth: Any) -> None:
    import time

    token = accent_auth.login("alice", expiration=1)
    time.sleep(1.1)
    assert httpx.head(f"{accent_auth.url}/token/{token}").status_code == 404


def test_a_config_file_defines_users_and_tenants(tmp_path: Path) -> None:
    config = {
        "tenants": [{"uuid": ACME, "name": "acme", "parent_uuid": None}],
        "users": [{"username": "eve", "password": "pw", "uuid": str(uuid.uuid4()), "tenant_uuid": ACME, "acl": []}],
    }
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(config))
    server = StandInAccentAuth(load_config(path)).start()
    try:
        assert login(server.url, "eve", "pw").status_code == 200
        assert login(server.url, "alice").status_code == 401
    finally:
        server.stop()


def test_run_accent_auth_serves_the_documented_login() -> None:
    port = free_port()
    command = [sys.executable, str(ROOT / "manage.py"), "run_accent_auth", "--port", str(port)]
    with running_server(command, port=port, env=clean_env(), ready_path="/0.1/status") as base_url:
        # The curl line in docs/accent-auth.md, through httpx.
        response = httpx.post(f"{base_url}/0.1/token", auth=("alice", "alice"), json={"expiration": 3600})
        assert response.status_code == 200
        token = response.json()["data"]["token"]
        assert httpx.head(f"{base_url}/0.1/token/{token}").status_code == 204


def test_stop_also_cuts_kept_alive_connections() -> None:
    import httpx

    from apps.accent_auth.standin import StandInAccentAuth

    server = StandInAccentAuth().start()
    with httpx.Client() as client:  # one kept-alive connection
        assert client.head(f"{server.url}/status").status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            client.head(f"{server.url}/status", timeout=2)
