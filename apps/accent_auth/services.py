"""Token validation, tenant resolution and revocation: the writes and checks behind the DRF classes.

Framework-free on purpose, so a WebSocket consumer or a GraphQL resolver can call the
same functions. Failures are `apps.core.errors` exceptions: `NotAuthenticated`
(401), `PermissionDenied` (403), `DependencyUnavailable` (503), `InvalidInput` (400).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import structlog

from apps.accent_auth import token_cache
from apps.accent_auth.client import (
    AccentAuthDisabled,
    AccentAuthUnavailable,
    TenantRefused,
    TokenInfo,
    get_client,
    is_configured,
)
from apps.core.errors import DependencyUnavailable, InvalidInput, NotAuthenticated, PermissionDenied

__all__ = ["AuthenticatedToken", "token_authenticate", "token_revoke"]

logger = structlog.get_logger(__name__)

DISABLED_MESSAGE = (
    "Token authentication is disabled on this service (ACCENT_AUTH_URL is not set); sign in with a session instead."
)
UNKNOWN_MESSAGE = "The token is unknown, revoked or expired."
UNAVAILABLE_MESSAGE = "Accent-Auth cannot be reached to validate the token; try again shortly."


@dataclass(frozen=True, slots=True)
class AuthenticatedToken:
    info: TokenInfo
    tenant_id: uuid.UUID | None


def _parse_tenant(value: str | None) -> uuid.UUID | None:
    if value is None or not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidInput(f"The Accent-Tenant header is not a tenant UUID: {value.strip()[:64]!r}.") from None


def _validate_remotely(token: str) -> TokenInfo:
    try:
        info = get_client().get_token(token)
    except AccentAuthDisabled:
        raise NotAuthenticated(DISABLED_MESSAGE) from None
    except AccentAuthUnavailable as error:
        logger.warning("accent_auth_unavailable", operation="validate", error=str(error))
        raise DependencyUnavailable(UNAVAILABLE_MESSAGE) from None
    token_cache.cache_token(token, info)
    if info is None:
        raise NotAuthenticated(UNKNOWN_MESSAGE)
    return info


def _confirm_tenant(info: TokenInfo, tenant: uuid.UUID) -> bool:
    """Ask Accent-Auth whether the token may act in `tenant` (its own or a sub-tenant)."""
    try:
        still_valid = get_client().get_token(info.token, tenant=str(tenant))
    except TenantRefused:
        allowed = False
    except AccentAuthUnavailable as error:
        logger.warning("accent_auth_unavailable", operation="tenant", error=str(error))
        raise DependencyUnavailable(UNAVAILABLE_MESSAGE) from None
    else:
        if still_valid is None:  # revoked since it was cached
            token_cache.forget_token(info.token)
            raise NotAuthenticated(UNKNOWN_MESSAGE)
        allowed = True
    token_cache.cache_tenant_decision(info, str(tenant), allowed)
    return allowed


def token_authenticate(*, token: str, tenant_header: str | None = None) -> AuthenticatedToken:
    """Validate `token` (cache first) and settle the tenant the caller acts in.

    The tenant is the one named by `Accent-Tenant` when Accent-Auth confirms the token
    may act there (its own tenant or a sub-tenant), else the token's own tenant.
    """
    if not is_configured():
        raise NotAuthenticated(DISABLED_MESSAGE)
    asked = _parse_tenant(tenant_header)
    found = token_cache.lookup(token, str(asked) if asked else None)
    if found.known_invalid:
        raise NotAuthenticated(UNKNOWN_MESSAGE)
    info = found.token or _validate_remotely(token)
    if info.expires_at <= time.time():
        raise NotAuthenticated("The token has expired.")
    own = uuid.UUID(info.tenant_uuid) if info.tenant_uuid else None
    if asked is None or asked == own:
        return AuthenticatedToken(info, own)
    allowed = found.tenant_allowed if found.tenant_allowed is not None else _confirm_tenant(info, asked)
    if not allowed:
        raise PermissionDenied(
            f"The token may not act in tenant {asked}: it is neither the token's tenant nor one of its sub-tenants."
        )
    return AuthenticatedToken(info, asked)


def token_revoke(*, token: str) -> bool:
    """Revoke `token` at Accent-Auth and drop it from our cache at once. `False`: it was unknown."""
    token_cache.forget_token(token)
    try:
        revoked = get_client().revoke_token(token)
    except AccentAuthDisabled:
        raise NotAuthenticated(DISABLED_MESSAGE) from None
    except AccentAuthUnavailable as error:
        logger.warning("accent_auth_unavailable", operation="revoke", error=str(error))
        raise DependencyUnavailable("Accent-Auth cannot be reached to revoke the token; try again shortly.") from None
    # Forget again: a request running concurrently may have re-cached it before the revoke landed.
    token_cache.forget_token(token)
    return revoked
