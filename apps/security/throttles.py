"""DRF throttles on the atomic limiter: per authenticated actor, and per scope/view.

They run after authentication (DRF's order), so they know the actor; the per-IP limit
runs earlier, in `RateLimitMiddleware`. A refusal raises DRF's `Throttled`, which the
project's exception handler answers as a 429 problem with `Retry-After`; the
middleware adds the `RateLimit-*` headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.core.context import actor_for_user
from apps.security import policies
from apps.security.client_ip import client_ip

if TYPE_CHECKING:  # DRF imports the throttle classes while defining APIView
    from rest_framework.views import APIView

__all__ = ["ActorRateThrottle", "ScopedRateThrottle", "view_scope"]


def view_scope(request: Request, view: APIView) -> str | None:
    """The view's `throttle_scope`, else its namespaced URL name."""
    scope: Any = getattr(view, "throttle_scope", None)
    if scope:
        return str(scope)
    match = request._request.resolver_match
    return match.view_name if match else None


class _AtomicThrottle(BaseThrottle):
    _wait: float | None = None

    def wait(self) -> float | None:
        return self._wait

    def _hit(self, request: Request, *, limit: str, key: str, rate: Any) -> bool:
        decision = policies.check(request._request, limit=limit, key=key, rate=rate)
        if not decision.allowed:
            self._wait = decision.retry_after
        return decision.allowed


class ActorRateThrottle(_AtomicThrottle):
    """`RATE_LIMIT_PER_ACTOR` per authenticated actor (anonymous callers only meet the IP limit)."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        rate = policies.rate_for_actor()
        actor = actor_for_user(request.user)
        if not policies.enabled() or rate is None or actor is None:
            return True
        return self._hit(request, limit="actor", key=actor, rate=rate)


class ScopedRateThrottle(_AtomicThrottle):
    """`RATE_LIMIT_SCOPES[scope]` per actor (or per IP when anonymous) for views that have a rate."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        scope = view_scope(request, view)
        rate = policies.rate_for_scope(scope) if scope else None
        if not policies.enabled() or rate is None:
            return True
        who = actor_for_user(request.user) or f"ip:{client_ip(request._request)}"
        return self._hit(request, limit="scope", key=f"{scope}:{who}", rate=rate)
