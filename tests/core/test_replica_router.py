"""The read-replica router on a real streaming standby (tests/conftest.py: `streaming_standby`).

Lag is forced with `pg_wal_replay_pause()` on the standby: a row the primary committed is then
not on the replica, so whether a read saw it tells which server answered.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections, transaction
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.core.context import RequestScope, request_scope
from apps.core.replica_router import PRIMARY, REPLICA, replica_breaker
from apps.health.runner import reset_result_cache
from project.backends import database_settings
from project.celery import app
from project.environment import EnvReader
from tests.conftest import StreamingStandby
from tests.core.replica_tasks import read_write_read
from tests.processes import celery_worker, clean_env, wait_for_log_event
from tests.testapp.models import Label

# Committed rows only reach the standby: every test's database is transactional.
pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True, databases=["default", "replica"])]

ROUTER = "apps.core.replica_router.ReplicaRouter"


def _url(settings_dict: dict[str, Any], *, port: int | None = None) -> str:
    host = settings_dict["HOST"] or "127.0.0.1"
    return f"postgres://{settings_dict['USER']}@{host}:{port or settings_dict['PORT']}/{settings_dict['NAME']}"


@pytest.fixture(scope="module")
def replica_alias(streaming_standby: StreamingStandby) -> Iterator[StreamingStandby]:
    """The `replica` alias, as DATABASE_REPLICA_URL builds it, on the standby, for this module's tests.

    Added before each test's database setup (module scope), so the tests can declare it in `databases`;
    its TEST MIRROR keeps Django from flushing it (the standby replays the primary's flush).
    """
    primary = connections[PRIMARY].settings_dict
    env = EnvReader({"DATABASE_URL": _url(primary), "DATABASE_REPLICA_URL": _url(primary, port=streaming_standby.port)})
    entry = database_settings(env, Path("."))[REPLICA]
    connections.settings[REPLICA] = connections.configure_settings({PRIMARY: primary, REPLICA: entry})[REPLICA]
    try:
        yield streaming_standby
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


@pytest.fixture
def read_replica(replica_alias: StreamingStandby, settings: SettingsWrapper) -> Iterator[StreamingStandby]:
    """The router on, for `testapp`'s models, with a short cool-down; the standby running and caught up after."""
    settings.DATABASE_ROUTERS = [ROUTER]
    settings.DATABASE_REPLICA_APPS = ["testapp"]
    settings.DATABASE_REPLICA_COOL_DOWN = 0.2
    replica_breaker.cache_clear()
    reset_result_cache()
    try:
        yield replica_alias
    finally:
        connections[REPLICA].close()
        replica_breaker.cache_clear()
        reset_result_cache()
        if not replica_alias.running:
            replica_alias.start()
        replica_alias.query("SELECT pg_wal_replay_resume()")
        replica_alias.catch_up()


def _pause(standby: StreamingStandby) -> None:
    standby.catch_up()
    standby.query("SELECT pg_wal_replay_pause()")


def _label_request(client: Client, method: str, name: str) -> dict[str, Any]:
    response = getattr(client, method)(f"/replica-label/?name={name}")
    assert response.status_code == 200, response.content
    return dict(response.json())


@pytest.mark.urls("tests.testapp.urls")
def test_reads_go_to_the_replica_when_nothing_was_written(read_replica: StreamingStandby, client: Client) -> None:
    _pause(read_replica)
    Label.objects.using(PRIMARY).create(name="written-elsewhere")
    assert _label_request(client, "get", "written-elsewhere") == {"seen": False, "read_from": REPLICA}
    read_replica.query("SELECT pg_wal_replay_resume()")
    read_replica.catch_up()
    assert _label_request(client, "get", "written-elsewhere") == {"seen": True, "read_from": REPLICA}


@pytest.mark.urls("tests.testapp.urls")
def test_a_write_then_a_read_in_one_request_sees_the_write_while_the_replica_lags(
    read_replica: StreamingStandby, client: Client
) -> None:
    _pause(read_replica)
    assert _label_request(client, "post", "mine") == {"seen": True, "read_from": PRIMARY}
    # The next request wrote nothing: it reads the replica again, which has not replayed the write.
    assert _label_request(client, "get", "mine") == {"seen": False, "read_from": REPLICA}
    assert read_replica.query("SELECT pg_is_wal_replay_paused()") is True


def test_transactions_read_on_the_primary(read_replica: StreamingStandby) -> None:
    with request_scope(RequestScope(request_id="reads")):
        assert Label.objects.all().db == REPLICA
        with transaction.atomic():
            assert Label.objects.all().db == PRIMARY
            assert list(Label.objects.select_for_update().filter(name="none")) == []
        assert Label.objects.all().db == PRIMARY, "select_for_update is a write: the scope now reads the primary"
    with request_scope(RequestScope(request_id="next")):
        assert Label.objects.all().db == REPLICA, "a new scope starts on the replica"


def test_nothing_is_migrated_or_written_on_the_replica(read_replica: StreamingStandby) -> None:
    from django.db import router

    assert router.allow_migrate(REPLICA, "testapp") is False
    assert router.allow_migrate(PRIMARY, "testapp") is True
    with request_scope(RequestScope(request_id="writes")):
        assert router.db_for_write(Label) == PRIMARY
    with request_scope(RequestScope(request_id="platform")):
        from django.contrib.sessions.models import Session

        assert Session.objects.all().db == PRIMARY, "apps not in DATABASE_REPLICA_APPS read the primary"


@pytest.mark.urls("tests.testapp.urls")
def test_replica_stopped_reads_are_served_by_the_primary(read_replica: StreamingStandby, client: Client) -> None:
    Label.objects.using(PRIMARY).create(name="kept")
    read_replica.catch_up()
    assert _label_request(client, "get", "kept") == {"seen": True, "read_from": REPLICA}  # a connection is open
    read_replica.stop()
    started = time.monotonic()
    assert _label_request(client, "get", "kept") == {"seen": True, "read_from": PRIMARY}
    assert _label_request(client, "get", "kept") == {"seen": True, "read_from": PRIMARY}
    assert time.monotonic() - started < 3, "the breaker keeps later reads from waiting on the dead replica"
    assert replica_breaker().is_open
    read_replica.start()
    time.sleep(0.3)  # DATABASE_REPLICA_COOL_DOWN: the next read probes the replica again
    assert _label_request(client, "get", "kept") == {"seen": True, "read_from": REPLICA}
    assert not replica_breaker().is_open


def _health(client: Client) -> dict[str, Any]:
    reset_result_cache()
    response = client.get("/health/")
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_health_reports_the_replicas_lag(read_replica: StreamingStandby, client: Client, settings: Any) -> None:
    settings.DATABASE_REPLICA_MAX_LAG = 0.5
    read_replica.catch_up()
    assert _health(client)["checks"]["database_replica"]["status"] == "ok"
    _pause(read_replica)
    Label.objects.using(PRIMARY).create(name="unreplayed")
    time.sleep(0.6)
    report = _health(client)
    check = report["checks"]["database_replica"]
    assert (report["status"], check["status"], check["required"]) == ("degraded", "failing", False)
    assert "behind the primary (more than 0.5s)" in check["error"]


def test_health_reports_a_replica_that_is_down(read_replica: StreamingStandby, client: Client) -> None:
    read_replica.stop()
    report = _health(client)
    check = report["checks"]["database_replica"]
    assert (report["status"], check["status"]) == ("degraded", "failing")
    assert "reads are served by the primary" in check["error"]


def test_a_celery_task_reads_its_writes_while_the_replica_lags(read_replica: StreamingStandby, broker_url: str) -> None:
    assert not app.conf.task_always_eager, "this test needs a real worker"
    primary = connections[PRIMARY].settings_dict
    queue_name = f"replica-test-{uuid.uuid4().hex[:8]}"
    env = clean_env(
        CELERY_BROKER_URL=broker_url,
        DATABASE_URL=_url(primary),
        DATABASE_REPLICA_URL=_url(primary, port=read_replica.port),
        DATABASE_REPLICA_APPS="testapp",
        LOG_FORMAT="json",
        DJANGO_SETTINGS_MODULE="tests.settings",
    )
    with celery_worker(queue_name=queue_name, include="tests.core.replica_tasks", env=env) as lines:
        _pause(read_replica)
        writer = uuid.uuid4().hex
        read_write_read.apply_async(args=(writer,), kwargs={"write": True}, queue=queue_name, ignore_result=True)
        wrote = wait_for_log_event(lines, "replica_task", writer)
        read_write_read.apply_async(args=(writer,), kwargs={"write": False}, queue=queue_name, ignore_result=True)
        read_only = wait_for_log_event(lines, "replica_task", writer)
    assert (wrote["read_before"], wrote["seen_before"]) == (REPLICA, False)
    assert (wrote["read_after"], wrote["seen_after"]) == (PRIMARY, True), "read-your-writes inside the task"
    # The next task wrote nothing: it reads the lagging replica, which has not replayed the first task's row.
    assert (read_only["read_after"], read_only["seen_after"]) == (REPLICA, False)


def test_a_cache_fill_reads_the_primary_so_a_lagging_replica_is_never_cached(read_replica: StreamingStandby) -> None:
    from apps.caching import cached, invalidate_tags

    tag = f"replica-test:{uuid.uuid4().hex}"

    @cached(key_prefix=tag, ttl=60, tags=lambda name: [tag])
    def label_seen(name: str) -> tuple[bool, str]:
        found = Label.objects.filter(name=name)
        return found.exists(), found.db

    _pause(read_replica)
    Label.objects.using(PRIMARY).create(name="fresh")
    invalidate_tags([tag])
    with request_scope(RequestScope(request_id="fill")):
        assert Label.objects.filter(name="fresh").exists() is False, "the replica has not replayed the row"
        assert label_seen("fresh") == (True, PRIMARY), "the value the cache keeps comes from the primary"
        assert Label.objects.all().db == REPLICA, "after the fill, the scope's reads go to the replica again"
    invalidate_tags([tag])
