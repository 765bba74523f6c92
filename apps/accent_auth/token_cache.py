"""Validated tokens in the Django cache (Redis via django-redis, or local memory).

Keys are a SHA-256 of the *whole* token, never the token or a prefix of it, so a
cache dump reveals no credential and two tokens never share an entry. A valid token
is kept for min(`ACCENT_AUTH_CACHE_TTL`, its remaining life); an unknown one for
`ACCENT_AUTH_NEGATIVE_CACHE_TTL`. Sub-tenant confirmations live beside it and are
read in the same round trip (`get_many` is one MGET). Both keys carry the token's digest as a
hash tag (`{<digest>}`), so on a Redis Cluster they share a slot and that MGET stays one command.

A cache that is down is skipped: authentication then asks Accent-Auth. The breaker
(`apps.core.breaker`, "token cache") logs the outage once and spares each request the
socket timeout for `CACHE_OUTAGE_BACKOFF` seconds, then lets one probe through. Forgetting
a token always tries: a logout must not be skipped.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Final

import redis.exceptions
import structlog
from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver

from apps.accent_auth.client import TokenInfo
from apps.core.breaker import Breaker

__all__ = ["CachedLookup", "cache_tenant_decision", "cache_token", "forget_token", "lookup"]

logger = structlog.get_logger(__name__)
_CACHE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.SlotNotCoveredError,
)
_INVALID: Final = "invalid"
_KEY_VERSION = "v2"  # v2: the digest became a hash tag
CACHE_OUTAGE_BACKOFF = 1.0
_breaker = Breaker("token cache", cool_down=CACHE_OUTAGE_BACKOFF)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_key(token: str) -> str:
    return f"accent_auth:token:{_KEY_VERSION}:{{{_digest(token)}}}"


def tenant_key(token: str, tenant: str) -> str:
    return f"accent_auth:tenant:{_KEY_VERSION}:{{{_digest(token)}}}:{tenant}"


class CachedLookup:
    """What the cache knew about a token (and a tenant) in one round trip."""

    __slots__ = ("known_invalid", "tenant_allowed", "token")

    def __init__(self, token: TokenInfo | None, known_invalid: bool, tenant_allowed: bool | None) -> None:
        self.token = token
        self.known_invalid = known_invalid
        self.tenant_allowed = tenant_allowed


def lookup(token: str, tenant: str | None = None) -> CachedLookup:
    keys = [token_key(token)] + ([tenant_key(token, tenant)] if tenant else [])
    found: dict[str, Any] = {}
    if _breaker.allows():
        try:
            found = cache.get_many(keys) if len(keys) > 1 else _get_one(keys[0])
        except _CACHE_ERRORS as error:
            _breaker.record_failure(error)
        else:
            _breaker.record_success()
    entry = found.get(keys[0])
    info = TokenInfo.from_cache(entry) if isinstance(entry, dict) else None
    if info is not None and info.expires_at <= time.time():
        info = None  # expired in the gap between the cache's TTL tick and now
    tenant_allowed = found.get(keys[1]) if tenant else None
    return CachedLookup(info, entry == _INVALID, tenant_allowed if isinstance(tenant_allowed, bool) else None)


def _get_one(key: str) -> dict[str, Any]:
    value = cache.get(key)
    return {} if value is None else {key: value}


def _remaining(info: TokenInfo) -> int:
    """Seconds to keep `info`: never past the token's expiry (rounded down)."""
    return min(settings.ACCENT_AUTH_CACHE_TTL, int(info.expires_at - time.time()))


def _set(key: str, value: object, ttl: int) -> None:
    if ttl <= 0 or not _breaker.allows():
        return
    try:
        cache.set(key, value, ttl)
    except _CACHE_ERRORS as error:
        _breaker.record_failure(error)
    else:
        _breaker.record_success()


def cache_token(token: str, info: TokenInfo | None) -> None:
    """Remember a validation result: the token, or that it is unknown/expired."""
    if info is None:
        _set(token_key(token), _INVALID, settings.ACCENT_AUTH_NEGATIVE_CACHE_TTL)
    else:
        _set(token_key(token), info.to_cache(), _remaining(info))


def cache_tenant_decision(info: TokenInfo, tenant: str, allowed: bool) -> None:
    ttl = _remaining(info) if allowed else min(_remaining(info), settings.ACCENT_AUTH_NEGATIVE_CACHE_TTL)
    _set(tenant_key(info.token, tenant), allowed, ttl)


def forget_token(token: str) -> None:
    """Drop what the cache holds for `token` (its tenant confirmations die with it: see `lookup`)."""
    try:
        cache.delete(token_key(token))
    except _CACHE_ERRORS as error:
        _breaker.record_failure(error)
        logger.warning("accent_auth_token_not_forgotten", error=str(error))
    else:
        _breaker.record_success()


@receiver(setting_changed)
def _close_on_settings_change(*, setting: str, **kwargs: object) -> None:
    if setting == "CACHES":  # another cache: what the breaker knew was about the old one
        _breaker.reset()
