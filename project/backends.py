"""Choose each backing service: the real one when its URL is set, the embedded default otherwise.

Embedded default (no environment at all): SQLite in `var/`, the local-memory cache,
eager Celery. Setting `DATABASE_URL`, `REDIS_URL` or `CELERY_BROKER_URL` switches that
one dependency to PostgreSQL, Redis or RabbitMQ (`REDIS_URL=redis+cluster://h:p,h:p,...`: a Redis
Cluster); `DATABASE_REPLICA_URL` adds a read replica (the `replica` alias, routed by
`apps.core.replica_router`); `DATABASE_TRANSACTION_POOLING` says `DATABASE_URL` goes through
PgBouncer in transaction pooling, and `DATABASE_DIRECT_URL` adds the `direct` alias to the server
behind it (docs/scaling.md#pgbouncer). Nothing here opens a connection,
so a dependency that is down never blocks start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from project.environment import ConfigurationError, EnvReader
from project.naming import service_names

__all__ = [
    "DIRECT_ALIAS",
    "REPLICA_ALIAS",
    "RedisCluster",
    "broker_settings",
    "cache_settings",
    "channel_layer_settings",
    "database_settings",
    "redis_cluster",
]

# The `DATABASES` alias of the read replica (apps.core.replica_router reads the same name from settings).
REPLICA_ALIAS = "replica"
# The alias of the database server itself when `DATABASE_URL` is a transaction pooler: what a pooler
# cannot carry (`LISTEN`, apps/events/wakeup.py) goes there.
DIRECT_ALIAS = "direct"
_POSTGRESQL = "django.db.backends.postgresql"

# Same engines, wrapped by django-prometheus to count connections, queries and errors
# (`connection.vendor` is unchanged: "postgresql", "sqlite").
METERED_DATABASE_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
_REDIS_SCHEMES = {"redis", "rediss", "unix"}
# A Redis Cluster (seed nodes separated by commas), the scheme `limits` and the redis-py docs use.
_CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
METERED_REDIS_CACHE = "django_prometheus.cache.backends.redis.RedisCache"
METERED_LOCMEM_CACHE = "apps.observability.cache_backends.LocMemCache"


@dataclass(frozen=True)
class RedisCluster:
    """`REDIS_URL=redis+cluster://[:password@]host:port,host:port,...`: the seed nodes of a Redis Cluster."""

    nodes: tuple[tuple[str, int], ...]
    password: str | None
    ssl: bool

    def node_urls(self) -> list[str]:
        scheme = "rediss" if self.ssl else "redis"
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return [f"{scheme}://{auth}{host}:{port}/0" for host, port in self.nodes]


def redis_cluster(env: EnvReader) -> RedisCluster | None:
    """The cluster `REDIS_URL` names, or None when it names one Redis (or nothing)."""
    value = env.optional_string("REDIS_URL")
    if value is None or not value.startswith(tuple(f"{scheme}://" for scheme in _CLUSTER_SCHEMES)):
        return None
    scheme, _, rest = value.partition("://")
    location = rest.split("/", 1)[0].split("?", 1)[0]
    auth, _, hosts = location.rpartition("@")
    nodes = []
    for node in hosts.split(","):
        host, _, port = node.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError("REDIS_URL", f"a cluster node must be host:port, got {node!r} in {value!r}")
        nodes.append((host, int(port)))
    password = unquote(auth.partition(":")[2]) if auth else None
    return RedisCluster(tuple(nodes), password or None, ssl=scheme == "rediss+cluster")


def channel_layer_settings(env: EnvReader) -> dict[str, Any]:
    """The channel layer the WebSocket consumers and the event fan-out share (docs/realtime.md).

    Redis pub/sub when `REDIS_URL` is set: every process (web, worker, admin) reaches every
    socket. Without it, the in-memory layer: one process only (`make run` on the embedded default).
    On a Redis Cluster each cluster node is a host: the layer spreads channels over them, and the
    cluster delivers a PUBLISH to the subscribers of every node anyway (docs/scaling.md).
    """
    cluster = redis_cluster(env)
    redis_url = None if cluster else env.url("REDIS_URL", None, schemes=_REDIS_SCHEMES)
    if redis_url is None and cluster is None:
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    prefix = env.string("CHANNEL_LAYER_PREFIX", f"{service_names(env).cache_prefix}:ws")
    connect_timeout = env.number("REDIS_CONNECT_TIMEOUT", 1.0)
    addresses = cluster.node_urls() if cluster else [str(redis_url)]
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # No read timeout: a subscriber's connection waits for messages as long as the socket lives.
            "CONFIG": {
                "hosts": [{"address": address, "socket_connect_timeout": connect_timeout} for address in addresses],
                "prefix": prefix,
            },
        }
    }


def database_settings(env: EnvReader, base_dir: Path) -> dict[str, Any]:
    config = env.database("DATABASE_URL", f"sqlite:///{base_dir / 'var' / 'db.sqlite3'}")
    # Read every tuning variable whichever engine is chosen, so a bad value is reported now.
    connect_timeout = env.integer("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)
    # Short: a replica that does not answer costs a request this much once, then the breaker opens.
    replica_connect_timeout = env.integer("DATABASE_REPLICA_CONNECT_TIMEOUT", 1, minimum=1)
    config["CONN_MAX_AGE"] = env.integer("DATABASE_CONN_MAX_AGE", 60, minimum=0)
    config["CONN_HEALTH_CHECKS"] = True
    config["ATOMIC_REQUESTS"] = False
    # Parallel test runs on one server (several checkouts, CI) each need their own test database.
    test_name = env.optional_string("DATABASE_TEST_NAME")
    if test_name:
        config["TEST"] = {"NAME": test_name}
    options = config.setdefault("OPTIONS", {})
    transaction_pooling = env.boolean("DATABASE_TRANSACTION_POOLING", False)
    if config["ENGINE"] == _POSTGRESQL:
        options.setdefault("connect_timeout", connect_timeout)
        options.setdefault("application_name", service_names(env).database)
        if transaction_pooling:
            # Each transaction may run on another server connection: nothing may outlive one. A
            # server-side cursor (`.iterator()`) does; prepared statements would too, but Django's
            # psycopg connections bind parameters client-side and prepare nothing (no `server_side_binding`).
            config["DISABLE_SERVER_SIDE_CURSORS"] = True
    elif transaction_pooling:
        raise ConfigurationError(
            "DATABASE_TRANSACTION_POOLING", "transaction pooling (PgBouncer) needs a PostgreSQL DATABASE_URL"
        )
    elif config["ENGINE"] == "django.db.backends.sqlite3":
        if config["NAME"] not in ("", ":memory:"):
            Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets the dev server and a Celery worker share the file without "database is locked".
        options.setdefault("init_command", "PRAGMA journal_mode=WAL;")
        options.setdefault("transaction_mode", "IMMEDIATE")
    replica = _beside_primary(
        env,
        "DATABASE_REPLICA_URL",
        config,
        refusal="a read replica needs PostgreSQL for both it and DATABASE_URL (a streaming standby)",
        connect_timeout=replica_connect_timeout,
    )
    direct = _beside_primary(
        env,
        "DATABASE_DIRECT_URL",
        config,
        refusal="a direct connection is to the PostgreSQL server behind DATABASE_URL",
        connect_timeout=options.get("connect_timeout", connect_timeout),  # the primary's, from its URL too
    )
    config["ENGINE"] = METERED_DATABASE_ENGINES.get(config["ENGINE"], config["ENGINE"])
    databases = {"default": config}
    for alias, entry in ((REPLICA_ALIAS, replica), (DIRECT_ALIAS, direct)):
        if entry is not None:
            entry["ENGINE"] = METERED_DATABASE_ENGINES[_POSTGRESQL]
            databases[alias] = entry
    return databases


def _beside_primary(
    env: EnvReader, setting: str, primary: dict[str, Any], *, refusal: str, connect_timeout: int
) -> dict[str, Any] | None:
    """A second PostgreSQL entry beside `default` (the replica; the server behind the pooler): its own
    URL, the primary's tuning, and under test the primary's database (Django neither creates,
    migrates nor flushes it: a physical standby and the server behind PgBouncer both hold it)."""
    if not env.is_set(setting):
        return None
    entry = env.database(setting, "")
    if primary["ENGINE"] != _POSTGRESQL or entry["ENGINE"] != _POSTGRESQL:
        raise ConfigurationError(setting, refusal)
    for name in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "ATOMIC_REQUESTS"):
        entry[name] = primary[name]
    entry["TEST"] = {"MIRROR": "default"}
    options = entry.setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", connect_timeout)
    options.setdefault("application_name", primary["OPTIONS"]["application_name"])
    return entry


def cache_settings(env: EnvReader) -> dict[str, Any]:
    names = service_names(env)
    prefix = env.string("CACHE_KEY_PREFIX", names.cache_prefix)
    cluster = redis_cluster(env)
    redis_url = env.string("REDIS_URL", "") if cluster else env.url("REDIS_URL", None, schemes=_REDIS_SCHEMES)
    connect_timeout = env.number("REDIS_CONNECT_TIMEOUT", 1.0)
    socket_timeout = env.number("REDIS_SOCKET_TIMEOUT", 1.0)
    max_connections = env.integer("REDIS_MAX_CONNECTIONS", 50, minimum=1)
    locmem_max_entries = env.integer("CACHE_LOCMEM_MAX_ENTRIES", 10_000, minimum=1)
    if redis_url is None:
        return {
            "default": {
                "BACKEND": METERED_LOCMEM_CACHE,
                "LOCATION": names.locmem_location,
                "KEY_PREFIX": prefix,
                "OPTIONS": {"MAX_ENTRIES": locmem_max_entries},
            }
        }
    options: dict[str, Any] = {
        "CLIENT_CLASS": "django_redis.client.DefaultClient",
        "SOCKET_CONNECT_TIMEOUT": connect_timeout,
        "SOCKET_TIMEOUT": socket_timeout,
        "CONNECTION_POOL_KWARGS": {
            "max_connections": max_connections,
            "health_check_interval": 30,
            "retry_on_timeout": False,
        },
    }
    if cluster is not None:
        # django-redis splits a LOCATION string on commas (primary, replicas): one item, kept whole.
        options |= {
            "CONNECTION_FACTORY": "apps.caching.redis_cluster.ClusterConnectionFactory",
            "CLUSTER_NODES": [list(node) for node in cluster.nodes],
            "PASSWORD": cluster.password,
            "SSL": cluster.ssl,
        }
        return {
            "default": {
                "BACKEND": METERED_REDIS_CACHE,
                "LOCATION": [redis_url],
                "KEY_PREFIX": prefix,
                "OPTIONS": options,
            }
        }
    return {
        "default": {"BACKEND": METERED_REDIS_CACHE, "LOCATION": redis_url, "KEY_PREFIX": prefix, "OPTIONS": options}
    }


def broker_settings(env: EnvReader) -> dict[str, Any]:
    """Celery settings (without the `CELERY_` prefix) for the broker choice."""
    broker_url = env.url("CELERY_BROKER_URL", None, schemes={"amqp", "amqps", "pyamqp", "redis", "rediss", "memory"})
    force_eager = env.boolean("CELERY_TASK_ALWAYS_EAGER", False)
    eager = broker_url is None or force_eager
    return {
        "broker_url": broker_url or "memory://",
        "task_always_eager": eager,
        "task_eager_propagates": eager,
    }
