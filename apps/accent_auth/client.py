"""The HTTP client for Accent-Auth: created on first use, never at start-up.

One `httpx.Client` per process (thread-safe, pooled), built from the settings
`ACCENT_AUTH_URL`, `ACCENT_AUTH_TIMEOUT`, `ACCENT_AUTH_CONNECT_TIMEOUT` and
`ACCENT_AUTH_MAX_CONNECTIONS` the first time it is needed, and dropped when a
test changes one of them. Transport failures and 5xx answers become
`AccentAuthUnavailable`; everything else is a plain answer.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = [
    "AccentAuthClient",
    "AccentAuthDisabled",
    "AccentAuthUnavailable",
    "TenantRefused",
    "TokenInfo",
    "get_client",
    "is_configured",
    "reset_client",
]

_CLIENT_SETTINGS = {
    "ACCENT_AUTH_URL",
    "ACCENT_AUTH_TIMEOUT",
    "ACCENT_AUTH_CONNECT_TIMEOUT",
    "ACCENT_AUTH_MAX_CONNECTIONS",
}
_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


class AccentAuthDisabled(Exception):
    """`ACCENT_AUTH_URL` is not set: token authentication is switched off."""


class AccentAuthUnavailable(Exception):
    """Accent-Auth could not be reached, timed out, or answered 5xx."""


class TenantRefused(Exception):
    """Accent-Auth says the token may not act in the tenant asked for (403)."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What the service keeps of a valid token (also what the cache stores, as a dict)."""

    token: str
    auth_id: str
    session_uuid: str | None
    acl: tuple[str, ...]
    tenant_uuid: str | None
    expires_at: float  # POSIX seconds, UTC
    purpose: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> TokenInfo:
        metadata = data.get("metadata") or {}
        expires = datetime.strptime(str(data["utc_expires_at"]), _UTC_FORMAT).replace(tzinfo=UTC)
        return cls(
            token=str(data["token"]),
            auth_id=str(data["auth_id"]),
            session_uuid=_optional_str(data.get("session_uuid")),
            acl=tuple(str(pattern) for pattern in data.get("acl") or ()),
            tenant_uuid=_optional_str(metadata.get("tenant_uuid")),
            expires_at=expires.timestamp(),
            purpose=_optional_str(metadata.get("purpose")),
        )

    def to_cache(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "auth_id": self.auth_id,
            "session_uuid": self.session_uuid,
            "acl": list(self.acl),
            "tenant_uuid": self.tenant_uuid,
            "expires_at": self.expires_at,
            "purpose": self.purpose,
        }

    @classmethod
    def from_cache(cls, value: dict[str, Any]) -> TokenInfo:
        return cls(**{**value, "acl": tuple(value["acl"])})


def _optional_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class AccentAuthClient:
    """The calls this service makes to Accent-Auth, over one pooled `httpx.Client`."""

    def __init__(self, base_url: str, *, timeout: float, connect_timeout: float, max_connections: int) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise AccentAuthUnavailable(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 500:
            raise AccentAuthUnavailable(f"Accent-Auth answered {response.status_code}")
        return response

    def get_token(self, token: str, *, tenant: str | None = None) -> TokenInfo | None:
        """The token if it is valid (and may act in `tenant`), `None` if unknown or expired.

        Raises `TenantRefused` (403 with `tenant`) or `AccentAuthUnavailable`.
        """
        if not _is_uuid(token):
            return None  # Accent-Auth would answer 404 too; spare it the round trip
        params = {"tenant": tenant} if tenant else None
        response = self._request("GET", f"token/{quote(token, safe='')}", params=params)
        if response.status_code == 404:
            return None
        if response.status_code == 403:
            raise TenantRefused(tenant or "")
        if response.status_code != 200:
            raise AccentAuthUnavailable(f"unexpected answer {response.status_code} to a token check")
        try:
            return TokenInfo.from_api(response.json()["data"])
        except (ValueError, KeyError, TypeError) as error:
            raise AccentAuthUnavailable(f"unreadable token answer: {error}") from error

    def revoke_token(self, token: str) -> bool:
        """Revoke `token`; `False` if Accent-Auth did not know it."""
        if not _is_uuid(token):
            return False
        response = self._request("DELETE", f"token/{quote(token, safe='')}")
        return response.status_code == 200

    def check_scopes(self, token: str, scopes: Sequence[str], *, tenant: str | None = None) -> dict[str, bool] | None:
        """Which of `scopes` the token holds, as Accent-Auth computes it; `None` for an unknown token."""
        body: dict[str, Any] = {"scopes": list(scopes)}
        if tenant:
            body["tenant_uuid"] = tenant
        response = self._request("POST", f"token/{quote(token, safe='')}/scopes/check", json=body)
        if response.status_code == 404:
            return None
        if response.status_code == 403:
            raise TenantRefused(tenant or "")
        return {str(k): bool(v) for k, v in response.json()["scopes"].items()}

    def is_healthy(self) -> bool:
        """`HEAD /status`: True on 200, False on any other answer (503: a component is down).

        Raises `AccentAuthUnavailable` when it cannot be reached at all.
        """
        try:
            return self._http.head("status").status_code == 200
        except httpx.HTTPError as error:
            raise AccentAuthUnavailable(f"{type(error).__name__}: {error}") from error


_lock = threading.Lock()
_client: AccentAuthClient | None = None


def is_configured() -> bool:
    """Token authentication is on when `ACCENT_AUTH_URL` is set."""
    return bool(settings.ACCENT_AUTH_URL)


def get_client() -> AccentAuthClient:
    """The process's client, created now if this is the first call. Raises `AccentAuthDisabled`."""
    global _client  # noqa: PLW0603 - one lazily built client per process is the point
    client = _client
    if client is not None:
        return client
    base_url = settings.ACCENT_AUTH_URL
    if not base_url:
        raise AccentAuthDisabled("ACCENT_AUTH_URL is not set")
    with _lock:
        if _client is None:
            _client = AccentAuthClient(
                base_url,
                timeout=settings.ACCENT_AUTH_TIMEOUT,
                connect_timeout=settings.ACCENT_AUTH_CONNECT_TIMEOUT,
                max_connections=settings.ACCENT_AUTH_MAX_CONNECTIONS,
            )
        return _client


def reset_client() -> None:
    """Forget the client (closing its connections); the next call builds a new one."""
    global _client
    with _lock:
        client, _client = _client, None
    if client is not None:
        client.close()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **_: Any) -> None:
    if setting in _CLIENT_SETTINGS:
        reset_client()
