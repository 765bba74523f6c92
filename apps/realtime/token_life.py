"""A socket's token, from its check to its end: both sockets (events, GraphQL) live by this one rule.

A socket is authenticated once (`authenticate`: the token check of the REST API, cached), then
`TokenLife._watch_token` sleeps to the token's expiry, re-validating it with Accent-Auth every
REALTIME_REVALIDATE_SECONDS on the way: an expired token closes with 4401, a revoked one with the
refusal's code (4401 / 4403), and a token whose ACL shrank lets the socket re-check what it
subscribed to (`_still_allowed`). Accent-Auth unreachable: the token stays good to its expiry.
"""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.conf import settings

from apps.accent_auth.acl import AccessCheck
from apps.accent_auth.services import AuthenticatedToken, token_authenticate
from apps.core.errors import DependencyUnavailable, NotAuthenticated, PermissionDenied, ServiceError

__all__ = ["CLOSE_TRY_AGAIN_LATER", "TokenLife", "authenticate", "close_code_of"]

CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455 registry: the server is overloaded or a dependency is down
authenticate = sync_to_async(token_authenticate, thread_sensitive=False)


def close_code_of(error: ServiceError) -> int:
    """The close code that says what an `apps.core.errors` refusal says: 4000 + its HTTP status."""
    return CLOSE_TRY_AGAIN_LATER if isinstance(error, DependencyUnavailable) else 4000 + error.status


class TokenLife:
    """Mixed into a consumer: `token`, `identity` and `access` of its caller, and the watch over them."""

    closing: bool
    token: str | None = None
    tenant_header: str | None = None
    identity: AuthenticatedToken | None = None
    access: AccessCheck | None = None

    def _become(self, identity: AuthenticatedToken) -> None:
        info = identity.info
        self.identity = identity
        self.access = AccessCheck(info.auth_id, info.session_uuid, info.acl)

    async def _close(self, code: int, reason: str) -> None:
        raise NotImplementedError

    async def _still_allowed(self) -> bool:
        """After a re-validation: check the subscriptions against the (maybe smaller) ACL; False once closed."""
        raise NotImplementedError

    async def _watch_token(self) -> None:
        """Close at the token's expiry; re-validate it every REALTIME_REVALIDATE_SECONDS (revocation)."""
        while not self.closing and self.identity is not None:
            left = self.identity.info.expires_at - time.time()
            await asyncio.sleep(max(0.0, min(left, settings.REALTIME_REVALIDATE_SECONDS)))
            if self.closing or self.token is None:
                return
            if self.identity.info.expires_at <= time.time():
                await self._close(4401, "The token has expired.")
                return
            try:
                identity = await authenticate(token=self.token, tenant_header=self.tenant_header)
            except (NotAuthenticated, PermissionDenied) as error:
                await self._close(close_code_of(error), error.detail)
                return
            except ServiceError:
                continue  # Accent-Auth is unreachable: the token stays good until its expiry
            self._become(identity)
            if not await self._still_allowed():
                return
