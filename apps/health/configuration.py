"""Which checks readiness runs, built from settings (every value from the environment).

- `HEALTH_OPTIONAL_CHECKS`: names whose failure only degrades (200, `"degraded"`);
  every other check is required (failure: 503).
- `HEALTH_CHECK_TIMEOUT`: each check's budget in seconds; `HEALTH_CHECK_TIMEOUTS`
  (a settings dict, `{"accent_auth": 1.0}`) overrides it per check.
- `HEALTH_CACHE_SECONDS`: how long a result is reused by every probe of the process.
- Accent-Auth is checked only when `AUTH_HEALTH_CHECKS_ENABLED`.
- The events relay's lag (`events_relay`) only when `EVENTS_RELAY_MAX_LAG` > 0; it is always
  optional: a relay behind degrades readiness, it never takes the pod out of service.
- The read replica (`database_replica`: reachable, a standby, replay lag at most
  `DATABASE_REPLICA_MAX_LAG` seconds) only when `DATABASE_REPLICA_URL` configured it; always
  optional: reads fall back to the primary, so a lagging or lost replica only degrades.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections

from apps.core.replica_router import REPLICA
from apps.health.checks import AccentAuthCheck, BrokerCheck, CacheCheck, Database, RelayLagCheck, ReplicaLagCheck
from apps.health.runner import CheckSpec, RunnableCheck

__all__ = ["CHECK_NAMES", "cache_seconds", "readiness_specs"]

CHECK_NAMES = ("database", "database_replica", "cache", "broker", "accent_auth", "events_relay")
_ALWAYS_OPTIONAL = {"events_relay", "database_replica"}


def cache_seconds() -> float:
    return float(getattr(settings, "HEALTH_CACHE_SECONDS", 3.0))


def _timeout(name: str) -> float:
    overrides: dict[str, float] = getattr(settings, "HEALTH_CHECK_TIMEOUTS", {})
    return float(overrides.get(name, getattr(settings, "HEALTH_CHECK_TIMEOUT", 2.0)))


def readiness_specs() -> list[CheckSpec]:
    optional = set(getattr(settings, "HEALTH_OPTIONAL_CHECKS", ()))
    checks: list[tuple[str, RunnableCheck]] = [
        ("database", Database(alias="default")),
        *(
            [("database_replica", ReplicaLagCheck(alias=REPLICA, max_lag=settings.DATABASE_REPLICA_MAX_LAG))]
            if REPLICA in connections
            else []
        ),
        ("cache", CacheCheck(alias="default")),
        (
            "broker",
            BrokerCheck(
                broker_url=None if settings.CELERY_TASK_ALWAYS_EAGER else settings.CELERY_BROKER_URL,
                connect_timeout=_timeout("broker"),
            ),
        ),
    ]
    if settings.AUTH_HEALTH_CHECKS_ENABLED:
        checks.append(
            ("accent_auth", AccentAuthCheck(base_url=settings.ACCENT_AUTH_URL, request_timeout=_timeout("accent_auth")))
        )
    max_lag = float(getattr(settings, "EVENTS_RELAY_MAX_LAG", 0.0))
    if max_lag > 0:
        checks.append(("events_relay", RelayLagCheck(max_lag=max_lag)))
    optional |= _ALWAYS_OPTIONAL
    return [CheckSpec(name, check, required=name not in optional, timeout=_timeout(name)) for name, check in checks]
