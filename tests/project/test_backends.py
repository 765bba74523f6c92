"""The embedded default and the switch to the real services, one variable at a time."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer  # type: ignore[import-untyped]

from project.backends import broker_settings, cache_settings, channel_layer_settings, database_settings
from project.environment import ConfigurationError, EnvReader
from project.naming import DEFAULT_NAME
from tests.docs_snippets import DOCS

NO_ENVIRONMENT = EnvReader({})


def test_no_environment_means_sqlite_in_var(tmp_path: Path) -> None:
    database = database_settings(NO_ENVIRONMENT, tmp_path)["default"]
    assert database["ENGINE"] == "django_prometheus.db.backends.sqlite3"
    assert Path(database["NAME"]) == tmp_path / "var" / "db.sqlite3"
    assert (tmp_path / "var").is_dir()
    assert database["OPTIONS"]["init_command"] == "PRAGMA journal_mode=WAL;"


def test_database_url_switches_to_postgresql_with_a_connect_timeout(tmp_path: Path) -> None:
    env = EnvReader({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test", "DATABASE_CONNECT_TIMEOUT": "3"})
    database = database_settings(env, tmp_path)["default"]
    assert database["ENGINE"] == "django_prometheus.db.backends.postgresql"
    assert database["OPTIONS"]["connect_timeout"] == 3
    assert database["CONN_HEALTH_CHECKS"] is True


PRIMARY_URL = "postgres://postgres@127.0.0.1:5432/service"


def test_no_replica_url_means_one_database(tmp_path: Path) -> None:
    assert list(database_settings(EnvReader({"DATABASE_URL": PRIMARY_URL}), tmp_path)) == ["default"]
    assert list(database_settings(NO_ENVIRONMENT, tmp_path)) == ["default"]


def test_replica_url_adds_the_replica_alias_mirroring_the_primary_under_test(tmp_path: Path) -> None:
    env = EnvReader(
        {
            "DATABASE_URL": PRIMARY_URL,
            "DATABASE_REPLICA_URL": "postgres://reader@10.0.0.2:5433/service",
            "DATABASE_CONN_MAX_AGE": "30",
            "DATABASE_TEST_NAME": "test_mine",
        }
    )
    databases = database_settings(env, tmp_path)
    replica = databases["replica"]
    assert (replica["HOST"], replica["PORT"], replica["USER"]) == ("10.0.0.2", 5433, "reader")
    assert replica["ENGINE"] == "django_prometheus.db.backends.postgresql"
    assert replica["TEST"] == {"MIRROR": "default"}, "tests read the primary's test database on the standby"
    assert (replica["CONN_MAX_AGE"], replica["CONN_HEALTH_CHECKS"], replica["ATOMIC_REQUESTS"]) == (30, True, False)
    assert replica["OPTIONS"]["connect_timeout"] == 1
    assert replica["OPTIONS"]["application_name"] == databases["default"]["OPTIONS"]["application_name"]


@pytest.mark.parametrize(
    ("primary", "replica"),
    [(None, "postgres://postgres@127.0.0.1:5433/service"), (PRIMARY_URL, "sqlite:////tmp/replica.sqlite3")],
)
def test_a_replica_needs_postgresql_on_both_sides(tmp_path: Path, primary: str | None, replica: str) -> None:
    env = EnvReader({"DATABASE_REPLICA_URL": replica, **({"DATABASE_URL": primary} if primary else {})})
    with pytest.raises(ConfigurationError, match="DATABASE_REPLICA_URL"):
        database_settings(env, tmp_path)


def test_no_redis_url_means_the_local_memory_cache() -> None:
    cache = cache_settings(NO_ENVIRONMENT)["default"]
    assert cache["BACKEND"] == "apps.observability.cache_backends.LocMemCache"
    assert cache["KEY_PREFIX"] == DEFAULT_NAME


def test_redis_url_switches_to_django_redis_with_bounded_timeouts() -> None:
    env = EnvReader(
        {"REDIS_URL": "redis://127.0.0.1:6379/3", "REDIS_SOCKET_TIMEOUT": "0.25", "SERVICE_NAME": "billing"}
    )
    cache = cache_settings(env)["default"]
    assert cache["BACKEND"] == "django_prometheus.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/3"
    assert cache["KEY_PREFIX"] == "billing"
    assert cache["OPTIONS"]["SOCKET_TIMEOUT"] == 0.25


def test_no_broker_means_eager_celery() -> None:
    assert broker_settings(NO_ENVIRONMENT) == {
        "broker_url": "memory://",
        "task_always_eager": True,
        "task_eager_propagates": True,
    }


def test_broker_url_switches_to_rabbitmq() -> None:
    celery = broker_settings(EnvReader({"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"}))
    assert celery["broker_url"] == "amqp://guest:guest@127.0.0.1:5672//"
    assert celery["task_always_eager"] is False


def test_the_replica_router_is_installed_only_with_a_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    import runpy

    settings_file = str(Path(__file__).resolve().parents[2] / "project" / "settings.py")
    monkeypatch.setenv("DATABASE_URL", PRIMARY_URL)
    monkeypatch.delenv("DATABASE_REPLICA_URL", raising=False)
    assert runpy.run_path(settings_file)["DATABASE_ROUTERS"] == []
    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgres://postgres@127.0.0.1:5433/service")
    configured = runpy.run_path(settings_file)
    assert configured["DATABASE_ROUTERS"] == ["apps.core.replica_router.ReplicaRouter"]
    assert configured["DATABASE_REPLICA_APPS"] == ["documents"], "the feature apps' reads, by default"


def test_transaction_pooling_turns_off_server_side_cursors_and_needs_postgresql(tmp_path: Path) -> None:
    plain = database_settings(EnvReader({"DATABASE_URL": PRIMARY_URL}), tmp_path)["default"]
    assert "DISABLE_SERVER_SIDE_CURSORS" not in plain
    env = EnvReader({"DATABASE_URL": PRIMARY_URL, "DATABASE_TRANSACTION_POOLING": "true"})
    pooled = database_settings(env, tmp_path)
    assert pooled["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert list(pooled) == ["default"], "no direct alias without DATABASE_DIRECT_URL"
    with pytest.raises(ConfigurationError, match="DATABASE_TRANSACTION_POOLING"):
        database_settings(EnvReader({"DATABASE_TRANSACTION_POOLING": "true"}), tmp_path)  # SQLite


def test_direct_url_adds_the_direct_alias_on_the_same_database(tmp_path: Path) -> None:
    env = EnvReader(
        {
            "DATABASE_URL": "postgres://app@pgbouncer:6432/service",
            "DATABASE_TRANSACTION_POOLING": "true",
            "DATABASE_DIRECT_URL": "postgres://app@db-primary:5432/service",
            "DATABASE_CONN_MAX_AGE": "30",
        }
    )
    databases = database_settings(env, tmp_path)
    direct = databases["direct"]
    assert (direct["HOST"], direct["PORT"], direct["NAME"]) == ("db-primary", 5432, "service")
    assert direct["ENGINE"] == "django_prometheus.db.backends.postgresql"
    assert direct["TEST"] == {"MIRROR": "default"}, "the test database, never created twice"
    assert direct["CONN_MAX_AGE"] == 30
    assert "DISABLE_SERVER_SIDE_CURSORS" not in direct, "the server itself holds a cursor fine"
    assert direct["OPTIONS"]["application_name"] == databases["default"]["OPTIONS"]["application_name"]
    with pytest.raises(ConfigurationError, match="DATABASE_DIRECT_URL"):
        database_settings(EnvReader({"DATABASE_DIRECT_URL": "postgres://app@db:5432/service"}), tmp_path)


@pytest.mark.parametrize(
    ("variables", "listens_on"),
    [
        ({}, "default"),
        ({"DATABASE_TRANSACTION_POOLING": "true"}, None),  # a LISTEN through the pooler would hear nothing
        ({"DATABASE_TRANSACTION_POOLING": "true", "DATABASE_DIRECT_URL": PRIMARY_URL}, "direct"),
    ],
)
def test_the_events_relay_listens_on_the_server_itself(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], listens_on: str | None
) -> None:
    import runpy

    settings_file = str(Path(__file__).resolve().parents[2] / "project" / "settings.py")
    monkeypatch.setenv("DATABASE_URL", PRIMARY_URL)
    for name in ("DATABASE_TRANSACTION_POOLING", "DATABASE_DIRECT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert runpy.run_path(settings_file)["EVENTS_LISTEN_DATABASE"] == listens_on


def test_a_redis_cluster_url_selects_the_cluster_for_cache_and_channel_layer() -> None:
    env = EnvReader({"REDIS_URL": "redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001"})
    cache = cache_settings(env)["default"]
    assert cache["LOCATION"] == ["redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001"]  # one item, kept whole
    assert cache["OPTIONS"]["CONNECTION_FACTORY"] == "apps.caching.redis_cluster.ClusterConnectionFactory"
    assert cache["OPTIONS"]["CLUSTER_NODES"] == [["10.0.0.1", 7000], ["10.0.0.2", 7001]]
    assert cache["OPTIONS"]["PASSWORD"] == "s@cret"
    hosts = channel_layer_settings(env)["default"]["CONFIG"]["hosts"]
    assert [host["address"] for host in hosts] == [
        "redis://:s%40cret@10.0.0.1:7000/0",
        "redis://:s%40cret@10.0.0.2:7001/0",
    ]
    with pytest.raises(ConfigurationError, match="host:port"):
        cache_settings(EnvReader({"REDIS_URL": "redis+cluster://10.0.0.1"}))


@pytest.mark.process
@pytest.mark.service("redis")
def test_group_send_reaches_a_subscriber_on_a_redis_cluster(redis_cluster: Any) -> None:
    config = channel_layer_settings(EnvReader({"REDIS_URL": redis_cluster.url}))["default"]
    group = f"cluster-{uuid.uuid4().hex[:8]}"

    async def scenario() -> dict[str, Any]:
        # Two layers, as two processes would have: one subscribes, the other sends.
        subscriber = RedisPubSubChannelLayer(**config["CONFIG"])
        sender = RedisPubSubChannelLayer(**config["CONFIG"])
        try:
            channel = await subscriber.new_channel()
            await subscriber.group_add(group, channel)
            await asyncio.sleep(0.2)  # the SUBSCRIBE is sent by a background task
            await sender.group_send(group, {"type": "document.changed", "id": 42})
            return dict(await asyncio.wait_for(subscriber.receive(channel), timeout=5))
        finally:
            await subscriber.flush()
            await sender.flush()

    assert asyncio.run(scenario()) == {"type": "document.changed", "id": 42}


@pytest.mark.parametrize("page", ["scaling.md", "caching.md"])
def test_the_cluster_urls_the_docs_show_are_accepted(page: str) -> None:
    urls = re.findall(r"REDIS_URL=(rediss?\+cluster://\S+?)`?(?:\s|$)", (DOCS / page).read_text())
    assert urls
    for url in urls:
        options = cache_settings(EnvReader({"REDIS_URL": url}))["default"]["OPTIONS"]
        assert len(options["CLUSTER_NODES"]) >= 2, url
        assert len(channel_layer_settings(EnvReader({"REDIS_URL": url}))["default"]["CONFIG"]["hosts"]) >= 2
