"""What readiness checks: the database and its replica's lag, the cache, the broker, Accent-Auth, the relay's lag.

Each check is a django-health-check `HealthCheck` (the library's `Database` check is
used as is; the others are ours because the library has no Django-cache check that
stays synchronous, no broker check without aio-pika, and no Accent-Auth check). A
check raises a `HealthCheckException` to say what is wrong, in words that never
contain a URL's credentials; `CheckSkipped` says a dependency is not configured.
"""

from __future__ import annotations

import dataclasses
import re
import uuid

import httpx
from django.core.cache import caches
from django.db import DatabaseError, connections
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.exceptions import HealthCheckException, ServiceUnavailable
from kombu import Connection
from prometheus_client import Gauge

from apps.core.metric_names import metric_name
from apps.core.replica_router import REPLICA

__all__ = [
    "AccentAuthCheck",
    "BrokerCheck",
    "CacheCheck",
    "CheckSkipped",
    "Database",
    "RelayLagCheck",
    "ReplicaLagCheck",
    "safe_error_text",
]

REPLICA_LAG = Gauge(
    metric_name("database_replica_lag_seconds"),
    "Seconds the read replica's replay was behind the primary at the last readiness check",
    multiprocess_mode="livemostrecent",
)

_CREDENTIALS_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)


def safe_error_text(exc: BaseException) -> str:
    """The exception's class and message, with any `user:password@` of a URL removed."""
    message = _CREDENTIALS_IN_URL.sub(r"\g<scheme>***@", str(exc)).strip()
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


class CheckSkipped(HealthCheckException):  # type: ignore[misc]
    """The dependency is not configured here (e.g. no broker: Celery runs eagerly)."""

    message_type = "Skipped"


@dataclasses.dataclass
class CacheCheck(HealthCheck):  # type: ignore[misc]
    """A value written to the Django cache `alias` reads back (a fresh key per run, removed after)."""

    alias: str = "default"

    def run(self) -> None:
        cache = caches[self.alias]
        key = f"health-check:{uuid.uuid4().hex}"
        token = uuid.uuid4().hex
        try:
            cache.set(key, token, timeout=30)
            read_back = cache.get(key)
            cache.delete(key)
        except Exception as exc:  # every client error means the same thing here: unavailable
            raise ServiceUnavailable(safe_error_text(exc)) from exc
        if read_back != token:
            raise ServiceUnavailable("a value written to the cache did not read back")


@dataclasses.dataclass
class BrokerCheck(HealthCheck):  # type: ignore[misc]
    """A connection to the Celery broker opens; skipped when there is none (eager Celery)."""

    broker_url: str | None = dataclasses.field(default=None, repr=False)
    connect_timeout: float = dataclasses.field(default=2.0, repr=False)

    def run(self) -> None:
        if not self.broker_url or self.broker_url.startswith("memory://"):
            raise CheckSkipped("no broker configured: tasks run eagerly")
        connection = Connection(self.broker_url, connect_timeout=max(1, round(self.connect_timeout)))
        try:
            # One attempt, no retry loop: the probe's timeout is the budget.
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=max(1, round(self.connect_timeout))
            )
        except Exception as exc:  # kombu raises transport-specific errors; all mean unreachable
            raise ServiceUnavailable(safe_error_text(exc)) from exc
        finally:
            connection.release()


@dataclasses.dataclass
class AccentAuthCheck(HealthCheck):  # type: ignore[misc]
    """`HEAD {ACCENT_AUTH_URL}/status` answers 200; a 503, another status or no answer is unhealthy."""

    base_url: str | None = dataclasses.field(default=None, repr=False)
    request_timeout: float = dataclasses.field(default=2.0, repr=False)

    def run(self) -> None:
        if not self.base_url:
            raise CheckSkipped("ACCENT_AUTH_URL is not set")
        url = self.base_url.rstrip("/") + "/status"
        try:
            response = httpx.head(url, timeout=self.request_timeout)
        except httpx.TimeoutException as exc:
            raise ServiceUnavailable(f"no answer within {self.request_timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(safe_error_text(exc)) from exc
        if response.status_code != 200:
            raise ServiceUnavailable(f"status answered HTTP {response.status_code}")


@dataclasses.dataclass
class RelayLagCheck(HealthCheck):  # type: ignore[misc]
    """The oldest due outbox row has waited at most `max_lag` seconds: the events relay keeps up."""

    max_lag: float = 60.0

    def run(self) -> None:
        from apps.events.lag import relay_lag_seconds  # noqa: PLC0415 - models: imported once apps are ready

        try:
            lag = relay_lag_seconds()
        except DatabaseError as exc:
            raise ServiceUnavailable(safe_error_text(exc)) from exc
        if lag > self.max_lag:
            raise ServiceUnavailable(
                f"the oldest pending event has waited {lag:.0f}s (more than {self.max_lag:g}s): "
                "the events relay is down or behind"
            )


# Seconds since the standby last replayed a transaction, or 0 when it has replayed all it received
# (an idle primary sends nothing new: an old replay timestamp is then no lag).
_REPLAY_LAG = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
       END
"""


@dataclasses.dataclass
class ReplicaLagCheck(HealthCheck):  # type: ignore[misc]
    """The read replica answers, is a standby, and has replayed the primary's WAL within `max_lag` seconds."""

    alias: str = REPLICA
    max_lag: float = 30.0

    def run(self) -> None:
        try:
            with connections[self.alias].cursor() as cursor:
                cursor.execute(_REPLAY_LAG)
                in_recovery, lag = cursor.fetchone()
        except DatabaseError as exc:
            raise ServiceUnavailable(f"{safe_error_text(exc)}: reads are served by the primary") from exc
        finally:
            connections[self.alias].close()  # this runs in the probe's thread pool: hold no connection there
        REPLICA_LAG.set(float(lag))
        if not in_recovery:
            raise ServiceUnavailable("the replica is not a standby (not in recovery): it may have been promoted")
        if float(lag) > self.max_lag:
            raise ServiceUnavailable(
                f"the replica is {float(lag):.1f}s behind the primary (more than {self.max_lag:g}s): "
                "reads until a write may be that stale"
            )
