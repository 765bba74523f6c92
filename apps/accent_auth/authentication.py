"""DRF authentication with Accent-Auth tokens (`X-Auth-Token`, or `Authorization: Bearer`).

A request without a token is left to the next authentication class (the admin's
session). A request with one is either authenticated as an `AccentAuthUser` or
refused: 401 for a missing/unknown/expired token or when token authentication is
off, 503 when Accent-Auth is unreachable and the answer is not cached, 403 for an
`Accent-Tenant` the token may not act in. The tenant lands in `apps.core.context`.
"""

from __future__ import annotations

from functools import cached_property

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from apps.accent_auth.acl import AccessCheck
from apps.accent_auth.client import TokenInfo
from apps.accent_auth.services import AuthenticatedToken, token_authenticate
from apps.core.context import current_request_id, set_request_tenant
from apps.core.errors import NotAuthenticated

__all__ = ["TENANT_HEADER", "TOKEN_HEADER", "AccentAuthTokenAuthentication", "AccentAuthUser", "token_from_request"]

TOKEN_HEADER = "X-Auth-Token"  # noqa: S105 - a header name, not a secret
TENANT_HEADER = "Accent-Tenant"


class AccentAuthUser:
    """The caller behind a valid token. Not a database row: this service does not own its users."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, authenticated: AuthenticatedToken) -> None:
        self.token_info: TokenInfo = authenticated.info
        self.tenant_id = authenticated.tenant_id
        self.pk = self.id = self.actor_id = authenticated.info.auth_id

    @property
    def acl(self) -> tuple[str, ...]:
        return self.token_info.acl

    @cached_property
    def access_check(self) -> AccessCheck:
        return AccessCheck(self.token_info.auth_id, self.token_info.session_uuid, self.token_info.acl)

    def get_username(self) -> str:
        return self.token_info.auth_id

    def __str__(self) -> str:
        return self.token_info.auth_id


def token_from_request(request: Request) -> str | None:
    """The token the caller sent, `None` when there is none. 401 for a malformed Bearer header."""
    token = request.headers.get(TOKEN_HEADER, "").strip()
    if token:
        return token
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None  # no header, or another scheme (Basic...) meant for someone else
    credentials = credentials.strip()
    if not credentials or " " in credentials:
        raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
    return credentials


class AccentAuthTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AccentAuthUser, TokenInfo] | None:
        token = token_from_request(request)
        if token is None:
            return None
        try:
            authenticated = token_authenticate(token=token, tenant_header=request.headers.get(TENANT_HEADER))
        except NotAuthenticated as error:
            # DRF's own 401 carries the WWW-Authenticate challenge; the problem handler renders it.
            raise exceptions.AuthenticationFailed(error.detail) from None
        if current_request_id() is not None:  # inside RequestContextMiddleware's scope
            set_request_tenant(authenticated.tenant_id)
        return AccentAuthUser(authenticated), authenticated.info

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
