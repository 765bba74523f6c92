"""The embedded default and the switch to the real services, one variable at a time."""

from __future__ import annotations

from pathlib import Path

from project.backends import broker_settings, cache_settings, database_settings
from project.environment import EnvReader
from project.naming import DEFAULT_NAME

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
