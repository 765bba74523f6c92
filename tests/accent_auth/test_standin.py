"""The stand-in speaks the contract's JSON and status codes; its world comes from a checked TOML file;
`python -m devtools.accent_auth_standin` serves it."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.accent_auth_standin import (
    CONFIG_VARIABLE,
    DEFAULT_CONFIG,
    DEFAULT_CONFIG_PATH,
    MASTER_TENANT,
    ConfigError,
    StandInAccentAuth,
    load_config,
)
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
    assert httpx.head(base, params={"tenant": ACME.upper()}).status_code == 204  # a UUID, however spelt
    assert httpx.head(base, params={"tenant": "acme"}).status_code == 403
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


# The "Your own users" example of docs/accent-auth.md.
EVE = re.findall(r"```toml\n(.*?)```", (ROOT / "docs" / "accent-auth.md").read_text(), re.DOTALL)[0]


def test_a_config_file_defines_users_acls_and_the_tenant_tree(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text(EVE)
    server = StandInAccentAuth(load_config(path)).start()
    try:
        assert login(server.url, "alice").status_code == 401
        data = login(server.url, "eve", "pw").json()["data"]
        assert data["acl"] == ["reports.#"]
        base = f"{server.url}/token/{data['token']}"
        assert httpx.head(base, params={"scope": "reports.1.read", "tenant": ACME[:-2] + "aa"}).status_code == 204
        assert httpx.head(base, params={"scope": "documents.1.read"}).status_code == 403
    finally:
        server.stop()


def test_the_environment_variable_names_the_file_and_an_argument_beats_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "users.toml"
    path.write_text(EVE)
    monkeypatch.setenv(CONFIG_VARIABLE, str(path))
    assert [user.username for user in load_config().users] == ["eve"]
    assert load_config(DEFAULT_CONFIG_PATH) == DEFAULT_CONFIG
    monkeypatch.delenv(CONFIG_VARIABLE)
    assert load_config() == DEFAULT_CONFIG


def test_the_packaged_world_keeps_what_the_suite_relies_on() -> None:
    alice, bob = DEFAULT_CONFIG.user("alice"), DEFAULT_CONFIG.user("bob")
    assert alice is not None
    assert bob is not None
    assert "documents.deleted.read" in alice.acl
    assert "!documents.deleted.read" in bob.acl
    assert [t.name for t in DEFAULT_CONFIG.tenants if t.parent_uuid == MASTER_TENANT] == ["acme", "globex"]
    assert (alice.tenant_uuid, bob.tenant_uuid) == (ACME, GLOBEX)


def test_each_feature_gives_the_users_named_in_feature_acl_its_patterns(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    packaged = DEFAULT_CONFIG_PATH.read_text()
    assert "features = []" in packaged  # the template's world: no generated feature yet
    path.write_text(packaged.replace("features = []", 'features = ["invoices", "orders"]'))
    server = StandInAccentAuth(load_config(path)).start()
    try:
        alice = login(server.url, "alice").json()["data"]
        assert alice["acl"][-4:] == ["invoices.#", "!invoices.*.delete", "orders.#", "!orders.*.delete"]
        base = f"{server.url}/token/{alice['token']}"
        assert httpx.head(base, params={"scope": "orders.create"}).status_code == 204
        assert httpx.head(base, params={"scope": "invoices.1.delete"}).status_code == 403
        bob = login(server.url, "bob").json()["data"]
        assert httpx.head(f"{server.url}/token/{bob['token']}", params={"scope": "invoices.create"}).status_code == 403
        root = login(server.url, "root").json()["data"]
        assert root["acl"] == ["#"]  # named in no feature_acl: its own ACL already covers every feature
    finally:
        server.stop()


BAD = [
    ("not toml at all = = =", "not TOML"),
    ("tenants = 3", "`tenants` must be an array of tables"),
    ('[[tenants]]\nuuid = "nope"\nname = "x"', "tenants[0].uuid must be a UUID, not 'nope'"),
    (f'[[tenants]]\nuuid = "{ACME}"', "tenants[0].name must be a non-empty string"),
    (f'[[tenants]]\nuuid = "{ACME}"\nname = "a"\nparent_uuid = "{GLOBEX}"', f"parent_uuid {GLOBEX} is no tenant"),
    (
        f'[[tenants]]\nuuid = "{ACME}"\nname = "a"\nparent_uuid = "{GLOBEX}"\n'
        f'[[tenants]]\nuuid = "{GLOBEX}"\nname = "g"\nparent_uuid = "{ACME}"',
        "tenants form a cycle",
    ),
    (f'[[tenants]]\nuuid = "{ACME}"\nname = "a"\n[[tenants]]\nuuid = "{ACME}"\nname = "b"', "appears twice"),
    (
        f'[[users]]\nusername = "u"\npassword = "p"\nuuid = "{ACME}"\ntenant_uuid = "{ACME}"\nacl = "#"',
        "users[0].acl must be an array of non-empty ACL patterns",
    ),
    (
        f'[[users]]\nusername = "u"\npassword = "p"\nuuid = "{ACME}"\ntenant_uuid = "{ACME}"',
        f"users[0].tenant_uuid {ACME} is no tenant",
    ),
    ('[[users]]\nusername = "u"', "users[0].password must be a non-empty string"),
    ('features = ["my-app"]', "`features` must be an array of app names"),
    ('features = ["a", "a"]', "feature a appears twice"),
    ('[feature_acl]\nnobody = ["{feature}.#"]', "feature_acl.nobody names no user of the file"),
    (
        f'[[tenants]]\nuuid = "{ACME}"\nname = "a"\n[[users]]\nusername = "u"\npassword = "p"\nuuid = "{ACME}"\n'
        f'tenant_uuid = "{ACME}"\n[feature_acl]\nu = ["documents.#"]',
        "feature_acl.u must be an array of ACL patterns each holding {feature}",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_config_file_is_refused_with_where_and_why(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "users.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        load_config(path)
    assert str(path) in str(refused.value)


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config(tmp_path / "absent.toml")


def _table(section: str) -> list[list[str]]:
    """The body rows of the first table under `section` in docs/accent-auth.md, cells without backticks."""
    lines = (ROOT / "docs" / "accent-auth.md").read_text().split(section, 1)[1].splitlines()
    first = next(index for index, line in enumerate(lines) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[first:]))
    return [[cell.strip().replace("`", "") for cell in row.strip("|").split("|")] for row in table[2:]]


def test_the_docs_tables_are_the_packaged_world() -> None:
    tenants = {tenant.uuid: tenant.name for tenant in DEFAULT_CONFIG.tenants}
    assert _table("### The stand-in's tenants") == [
        [tenant.name, tenant.uuid, tenants.get(tenant.parent_uuid or "", "")] for tenant in DEFAULT_CONFIG.tenants
    ]
    assert _table("### The stand-in's users") == [
        [user.username, user.password, tenants[user.tenant_uuid], ", ".join(user.acl)] for user in DEFAULT_CONFIG.users
    ]
    assert _table("### What each feature app gives them") == [
        [username, ", ".join(patterns)] for username, patterns in DEFAULT_CONFIG.feature_acl.items()
    ]


def test_the_command_serves_the_documented_login_and_refuses_a_bad_file(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "devtools.accent_auth_standin", "--port", str(port)]
    with running_server(command, port=port, env=clean_env(), ready_path="/0.1/status") as base_url:
        # The curl line in docs/accent-auth.md, through httpx.
        response = httpx.post(f"{base_url}/0.1/token", auth=("alice", "alice"), json={"expiration": 3600})
        assert response.status_code == 200
        token = response.json()["data"]["token"]
        assert httpx.head(f"{base_url}/0.1/token/{token}").status_code == 204
    (tmp_path / "bad.toml").write_text("tenants = 3")
    refused = subprocess.run(
        [*command, "--config", str(tmp_path / "bad.toml")], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2
    assert "`tenants` must be an array of tables" in refused.stderr


def test_stop_also_cuts_kept_alive_connections() -> None:
    server = StandInAccentAuth().start()
    with httpx.Client() as client:  # one kept-alive connection
        assert client.head(f"{server.url}/status").status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            client.head(f"{server.url}/status", timeout=2)
