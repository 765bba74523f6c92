"""Which limits apply: per IP (middleware), per authenticated actor and per scope (DRF throttles).

Settings (docs/security.md#rate-limits):
  RATE_LIMIT_ENABLED      master switch
  RATE_LIMIT_PER_IP       every request outside the exempt paths, keyed by `client_ip`
  RATE_LIMIT_PER_ACTOR    every API request of one authenticated actor, whatever its IP
  RATE_LIMIT_SCOPES       {scope: rate}; a view's scope is its `throttle_scope` attribute,
                          else its URL name ("documents:bulk-upsert"), keyed per actor (or IP)
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

from apps.security.metrics import RATE_LIMIT_DECISIONS
from apps.security.rate_limit import Decision, hit
from apps.security.rates import Rate, parse_rate

__all__ = ["DECISIONS_ATTRIBUTE", "check", "enabled", "rate_for_actor", "rate_for_ip", "rate_for_scope"]

# The decisions taken for a request, kept on the Django request for the response headers.
DECISIONS_ATTRIBUTE = "_rate_limit_decisions"


@lru_cache(maxsize=64)
def _parse(text: str) -> Rate | None:
    return parse_rate(text)


def enabled() -> bool:
    return bool(getattr(settings, "RATE_LIMIT_ENABLED", True))


def _rate(text: str | None) -> Rate | None:
    return _parse(text) if text else None


def rate_for_ip() -> Rate | None:
    return _rate(getattr(settings, "RATE_LIMIT_PER_IP", None))


def rate_for_actor() -> Rate | None:
    return _rate(getattr(settings, "RATE_LIMIT_PER_ACTOR", None))


def rate_for_scope(scope: str) -> Rate | None:
    scopes: dict[str, str] = getattr(settings, "RATE_LIMIT_SCOPES", {})
    return _rate(scopes.get(scope))


def check(request: HttpRequest, *, limit: str, key: str, rate: Rate) -> Decision:
    """Count one hit of `key` against `rate` and remember the decision on `request`."""
    decision = hit(f"{limit}:{key}", rate)
    RATE_LIMIT_DECISIONS.labels(limit, "allowed" if decision.allowed else "limited").inc()
    decisions: list[Decision] = request.__dict__.setdefault(DECISIONS_ATTRIBUTE, [])
    decisions.append(decision)
    return decision
