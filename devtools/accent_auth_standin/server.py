"""A stand-in Accent-Auth: a real HTTP server speaking the contract (docs/accent-auth.md).

For tests (started on a free port in a thread) and local development
(`python -m devtools.accent_auth_standin`, which `make run` starts). It implements, under `/0.1`:

- `POST /token` (HTTP Basic login:password; JSON `expiration` 1..315360000, default 7200)
- `GET|HEAD|DELETE /token/{token}` (`?scope=ACL&tenant=UUID` on GET/HEAD)
- `POST /token/{token}/scopes/check`
- `HEAD|GET /status` (503 after `set_healthy(False)`)

Users, their ACLs and the tenant tree come from a `StandInConfig` (`config.py`: the
packaged `users.toml` unless told otherwise). Everything is in memory. `set_unavailable(True)`
makes every endpoint answer 503, as an Accent-Auth whose database is down would.
Never expose it: passwords are compared in plain text.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from apps.accent_auth.acl import AccessCheck
from devtools.accent_auth_standin.config import StandInConfig, User, load_config

__all__ = ["StandInAccentAuth"]

API_PREFIX = "/0.1"
MAX_EXPIRATION = 315_360_000
DEFAULT_EXPIRATION = 7200
_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass
class _Token:
    token: str
    user: User
    session_uuid: str
    issued: datetime
    expires: datetime
    remote_addr: str
    user_agent: str
    purpose: str = "user"

    def as_data(self) -> dict[str, Any]:
        user_uuid = self.user.uuid
        return {
            "token": self.token,
            "auth_id": user_uuid,
            "accent_user_uuid": user_uuid,
            "accent_uuid": StandInAccentAuth.ACCENT_UUID,
            # The platform gives local times without offset beside the UTC ones.
            "issued_at": self.issued.astimezone().replace(tzinfo=None).isoformat(),
            "expires_at": self.expires.astimezone().replace(tzinfo=None).isoformat(),
            "utc_issued_at": self.issued.strftime(_UTC_FORMAT),
            "utc_expires_at": self.expires.strftime(_UTC_FORMAT),
            "acl": list(self.user.acl),
            "session_uuid": self.session_uuid,
            "remote_addr": self.remote_addr,
            "user_agent": self.user_agent,
            "metadata": {
                "uuid": user_uuid,
                "tenant_uuid": self.user.tenant_uuid,
                "auth_id": user_uuid,
                "pbx_user_uuid": user_uuid,
                "accent_uuid": StandInAccentAuth.ACCENT_UUID,
                "purpose": self.purpose,
            },
        }


@dataclass
class _State:
    config: StandInConfig
    tokens: dict[str, _Token] = field(default_factory=dict)
    healthy: bool = True
    unavailable: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: set[socket.socket] = field(default_factory=set)  # open client connections, cut by stop()


class StandInAccentAuth:
    """The server and its controls. `start()` serves in a daemon thread; `stop()` ends it."""

    ACCENT_UUID = "00000000-0000-4000-a000-000000000000"

    def __init__(self, config: StandInConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config if config is not None else load_config()
        self.state = _State(config=self.config)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to put in `ACCENT_AUTH_URL` (with the `/0.1` prefix)."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    def start(self) -> StandInAccentAuth:
        self._thread = threading.Thread(target=self._server.serve_forever, name="accent-auth-standin", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop listening and cut kept-alive connections too: a stopped Accent-Auth answers nobody."""
        self._server.shutdown()
        self._server.server_close()
        with self.state.lock:
            connections = list(self.state.connections)
            self.state.connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # Controls for tests ---------------------------------------------------------
    def set_healthy(self, healthy: bool) -> None:
        """`HEAD /status` answers 200 when healthy, 503 otherwise."""
        self.state.healthy = healthy

    def set_unavailable(self, unavailable: bool) -> None:
        """Every endpoint answers 503 (status included) while set."""
        self.state.unavailable = unavailable

    def set_acl(self, username: str, acl: list[str]) -> None:
        """Give `username` another ACL from now on (tokens issued later carry it)."""
        with self.state.lock:
            users = tuple(
                replace(user, acl=tuple(acl)) if user.username == username else user for user in self.state.config.users
            )
            self.state.config = replace(self.state.config, users=users)

    def revoke_all(self) -> None:
        with self.state.lock:
            self.state.tokens.clear()

    def calls(self, kind: str) -> int:
        """How many requests of `kind` (e.g. `GET /token`, `POST /token`) were served."""
        return self.state.calls[kind]

    def reset(self) -> None:
        self.set_healthy(True)
        self.set_unavailable(False)
        self.state.calls.clear()


class _Handler(BaseHTTPRequestHandler):
    state: _State
    _raw_body: bytes = b""
    protocol_version = "HTTP/1.1"
    server_version = "AccentAuthStandIn/1.0"

    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.connections.add(self.connection)

    def finish(self) -> None:
        with self.state.lock:
            self.state.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and `run_accent_auth` print their own lines."""

    # Plumbing ---------------------------------------------------------------------
    def _send(self, status: int, body: Mapping[str, Any] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _error(self, status: int, reason: str) -> None:
        self._send(status, {"reason": [reason], "timestamp": [_now().isoformat()], "status_code": status})

    def _body(self) -> Any:
        return json.loads(self._raw_body) if self._raw_body.strip() else {}

    def _route(self) -> None:
        # Read the whole body first, even when answering early: on a kept-alive connection
        # unread bytes would be taken for the next request.
        length = int(self.headers.get("Content-Length") or 0)
        self._raw_body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not parts.path.startswith(API_PREFIX + "/"):
            self._error(404, "Not found")
            return
        segments = parts.path[len(API_PREFIX) + 1 :].strip("/").split("/")
        kind = f"{self.command} /{segments[0]}"
        with self.state.lock:
            self.state.calls[kind] += 1
        if self.state.unavailable:
            self._error(503, "Service unavailable")
            return
        match (self.command, segments):
            case ("HEAD" | "GET", ["status"]):
                self._send(200 if self.state.healthy else 503, None if self.command == "HEAD" else {})
            case ("POST", ["token"]):
                self._create_token()
            case ("GET" | "HEAD", ["token", token]):
                self._check_token(token, query)
            case ("DELETE", ["token", token]):
                with self.state.lock:
                    self.state.tokens.pop(token, None)
                self._send(200, {"data": {"message": "success"}})
            case ("POST", ["token", token, "scopes", "check"]):
                self._check_scopes(token)
            case _:
                self._error(405 if segments[0] in {"token", "status"} else 404, "Not found")

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = _route

    # Endpoints --------------------------------------------------------------------
    def _create_token(self) -> None:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        try:
            login, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            login = password = ""
        user = self.state.config.user(login)
        if scheme.lower() != "basic" or user is None or not secrets.compare_digest(user.password, password):
            self._error(401, "Authentication Failed")
            return
        try:
            body = self._body()
            expiration = body.get("expiration", DEFAULT_EXPIRATION) if isinstance(body, dict) else None
        except ValueError:
            expiration = None
        if isinstance(expiration, bool) or not isinstance(expiration, int) or not 1 <= expiration <= MAX_EXPIRATION:
            self._error(400, f"Invalid expiration: expected a whole number of seconds in 1..{MAX_EXPIRATION}")
            return
        issued = _now()
        token = _Token(
            token=str(uuid.uuid4()),
            user=replace(user, acl=self.state.config.acl_of(user)),  # with its ACLs in each feature app
            session_uuid=str(uuid.uuid4()),
            issued=issued,
            expires=issued + timedelta(seconds=expiration),
            remote_addr=self.client_address[0],
            user_agent=self.headers.get("User-Agent", ""),
        )
        with self.state.lock:
            self.state.tokens[token.token] = token
        self._send(200, {"data": token.as_data()})

    def _valid_token(self, token: str) -> _Token | None:
        with self.state.lock:
            found = self.state.tokens.get(token)
            if found is not None and found.expires <= _now():
                del self.state.tokens[token]
                found = None
        if found is None:
            self._error(404, "No such token")
        return found

    def _in_tenant(self, token: _Token, tenant: str | None) -> bool:
        """`tenant` is the token's tenant or one of its sub-tenants (at any depth).

        Compared as UUIDs, as Accent-Auth's database does: `ACME` and `acme` are one tenant.
        """
        if not tenant:
            return True
        try:
            canonical = str(uuid.UUID(tenant))
        except ValueError:
            return False  # no tenant has that name
        return self.state.config.is_within(canonical, token.user.tenant_uuid)

    def _check_token(self, token: str, query: Mapping[str, str]) -> None:
        found = self._valid_token(token)
        if found is None:
            return
        scope = query.get("scope")
        check = AccessCheck(found.user.uuid, found.session_uuid, found.user.acl)
        if scope and not check.matches_required_access(scope):
            self._error(403, f"Unauthorized for {scope}")
            return
        if not self._in_tenant(found, query.get("tenant")):
            self._error(403, f"Unauthorized for tenant {query.get('tenant')}")
            return
        if self.command == "HEAD":
            self._send(204)
        else:
            self._send(200, {"data": found.as_data()})

    def _check_scopes(self, token: str) -> None:
        found = self._valid_token(token)
        if found is None:
            return
        try:
            body = self._body()
            scopes = body["scopes"]
            if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            self._error(400, "Invalid body: expected {'scopes': [ACL, ...]}")
            return
        if not self._in_tenant(found, body.get("tenant_uuid")):
            self._error(403, f"Unauthorized for tenant {body.get('tenant_uuid')}")
            return
        check = AccessCheck(found.user.uuid, found.session_uuid, found.user.acl)
        self._send(200, {"scopes": {scope: check.matches_required_access(scope) for scope in scopes}})


def _now() -> datetime:
    return datetime.now(UTC)
