"""Each readiness check, healthy and failing, against real things (no mocks)."""

from __future__ import annotations

import time

import pytest
import pytest_django
from django.db import connections
from health_check.exceptions import ServiceUnavailable
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.health.checks import AccentAuthCheck, BrokerCheck, CacheCheck, CheckSkipped, Database, safe_error_text
from tests.conftest import OwnRedisServer
from tests.health.conftest import StatusServer
from tests.processes import free_port


def test_accent_auth_status_200_is_healthy(status_server: StatusServer) -> None:
    AccentAuthCheck(base_url=status_server.base_url, request_timeout=2).run()
    assert status_server.requests == ["/0.1/status"]


def test_accent_auth_answering_503_is_unhealthy(status_server: StatusServer) -> None:
    status_server.mode = "unavailable"
    with pytest.raises(ServiceUnavailable, match="HTTP 503"):
        AccentAuthCheck(base_url=status_server.base_url, request_timeout=2).run()


def test_accent_auth_not_answering_is_unhealthy_within_its_timeout(status_server: StatusServer) -> None:
    status_server.mode = "hang"
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"no answer within 0\.3s"):
        AccentAuthCheck(base_url=status_server.base_url, request_timeout=0.3).run()
    assert time.monotonic() - started < 2


def test_accent_auth_stopped_is_unhealthy(status_server: StatusServer) -> None:
    status_server.stop()
    with pytest.raises(ServiceUnavailable, match="ConnectError"):
        AccentAuthCheck(base_url=status_server.base_url, request_timeout=1).run()


def test_accent_auth_without_url_is_skipped() -> None:
    with pytest.raises(CheckSkipped):
        AccentAuthCheck(base_url=None).run()


def test_cache_check_round_trips_a_value_and_leaves_nothing_behind(settings: SettingsWrapper) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "probe"}}
    from django.core.cache import caches

    CacheCheck().run()
    assert list(caches["default"]._cache) == []  # type: ignore[attr-defined]


def test_cache_check_follows_redis_going_down_and_coming_back(
    settings: SettingsWrapper, own_redis_server: OwnRedisServer
) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "probe": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": own_redis_server.url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    check = CacheCheck(alias="probe")
    check.run()
    own_redis_server.stop()
    with pytest.raises(ServiceUnavailable, match="Connection refused"):
        check.run()
    own_redis_server.start()
    check.run()


@pytest.mark.django_db
def test_database_check_passes_on_the_configured_database() -> None:
    Database(alias="default").run()


def test_database_check_fails_on_a_database_that_is_down(django_db_blocker: pytest_django.DjangoDbBlocker) -> None:
    # A second alias like the real one, pointed at a port where nothing listens.
    down = dict(connections.settings["default"])
    if down["ENGINE"].endswith("sqlite3"):
        down.update(ENGINE="django.db.backends.postgresql", NAME="down", USER="postgres", PASSWORD="")
    down.update(HOST="127.0.0.1", PORT=str(free_port()), OPTIONS={"connect_timeout": 1})
    connections.settings["down"] = down
    try:
        with django_db_blocker.unblock(), pytest.raises(ServiceUnavailable, match="connect"):
            Database(alias="down").run()
    finally:
        connections["down"].close()
        del connections.settings["down"]


def test_database_check_of_an_unknown_alias_is_unavailable() -> None:
    with pytest.raises(ServiceUnavailable, match="does not exist"):
        Database(alias="nowhere").run()


def test_broker_check_is_skipped_without_a_broker() -> None:
    with pytest.raises(CheckSkipped, match="eagerly"):
        BrokerCheck(broker_url="memory://").run()
    with pytest.raises(CheckSkipped):
        BrokerCheck(broker_url=None).run()


def test_broker_check_passes_against_rabbitmq(broker_url: str) -> None:
    BrokerCheck(broker_url=broker_url, connect_timeout=2).run()


def test_broker_check_fails_on_a_closed_port_without_leaking_the_password() -> None:
    url = f"amqp://guest:s3cret@127.0.0.1:{free_port()}//"
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as failure:
        BrokerCheck(broker_url=url, connect_timeout=1).run()
    assert "s3cret" not in str(failure.value.message)
    assert time.monotonic() - started < 5


def test_safe_error_text_removes_credentials_from_urls() -> None:
    text = safe_error_text(RuntimeError("cannot reach redis://:hunter2@cache:6379/0 or amqp://u:p@mq//"))
    assert text == "RuntimeError: cannot reach redis://***@cache:6379/0 or amqp://***@mq//"
    assert safe_error_text(TimeoutError()) == "TimeoutError"
