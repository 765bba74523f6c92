"""Redis Cluster behind django-redis: `REDIS_URL=redis+cluster://host:port,host:port,...` (docs/scaling.md).

django-redis has no cluster client, but it builds every client through a connection factory
(`OPTIONS["CONNECTION_FACTORY"]`): this one returns redis-py's `RedisCluster`, which routes each
command to the master of its key's slot and follows MOVED/ASK during a resharding. Everything
that asks django-redis for a connection (the cache store, the rate limiter, `django.core.cache`)
then talks to the cluster. `project.backends.cache_settings` puts the seed nodes in
`OPTIONS["CLUSTER_NODES"]`; one answering seed is enough, the client discovers the rest.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django_redis.pool import ConnectionFactory  # type: ignore[import-untyped]
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException

__all__ = ["ClusterConnectionFactory", "cluster_nodes"]


def cluster_nodes(cache_config: dict[str, Any]) -> list[tuple[str, int]]:
    """The seed nodes of a `CACHES` entry that points at a Redis Cluster; empty for anything else."""
    return [(str(host), int(port)) for host, port in cache_config.get("OPTIONS", {}).get("CLUSTER_NODES") or ()]


class ClusterConnectionFactory(ConnectionFactory):  # type: ignore[misc]
    # One client per seed list and process, as django-redis keeps one pool per URL: Django builds a
    # cache client per thread, and each would otherwise open its own connections to every master.
    _clusters: ClassVar[dict[tuple[Any, ...], RedisCluster]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def connect(self, url: str) -> RedisCluster:
        nodes = tuple((str(host), int(port)) for host, port in self.options["CLUSTER_NODES"])
        pool = self.pool_cls_kwargs
        identity = (nodes, self.options.get("PASSWORD"), self.options.get("SSL", False))
        with self._lock:
            client = self._clusters.get(identity)
            if client is None:
                client = self._clusters[identity] = self._build(nodes, pool)
        return client

    def _build(self, nodes: tuple[tuple[str, int], ...], pool: dict[str, Any]) -> RedisCluster:
        """The client; it reads the slot map now, so no seed answering is an outage like a refused connection."""
        try:
            return RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in nodes],  # type: ignore[no-untyped-call]
                password=self.options.get("PASSWORD"),
                ssl=bool(self.options.get("SSL", False)),
                socket_timeout=self.options.get("SOCKET_TIMEOUT"),
                socket_connect_timeout=self.options.get("SOCKET_CONNECT_TIMEOUT"),
                # Per node: RedisCluster keeps a pool for each master it talks to.
                max_connections=int(pool.get("max_connections", 50)),
                health_check_interval=int(pool.get("health_check_interval", 30)),
            )
        except RedisClusterException as error:
            # The callers (cache store, token cache, rate limiter) already degrade on ConnectionError.
            raise RedisConnectionError(str(error)) from error

    def disconnect(self, connection: RedisCluster) -> None:
        with self._lock:
            for identity, client in list(self._clusters.items()):
                if client is connection:
                    del self._clusters[identity]
        connection.close()
