"""End to end through real RabbitMQ and a real `celery -A project worker` process.

Every name this module declares on the shared broker carries a per-run suffix and is
deleted at the end; nothing else on the broker is touched.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from kombu import Connection
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.core.context import RequestScope, acting_as, in_tenant, request_scope
from apps.events import Event, background_relay, publish
from apps.events.dead_letters import DeadLetter, dead_letters, declare_topology
from apps.events.models import OutboxEvent, OutboxStatus, ProcessedEvent
from apps.events.relay import broker_marked_down, relay_outbox
from apps.events.task_logs import DELIVER_TASK
from project.celery import app
from tests import broker_channel
from tests.conftest import REQUIRE_SERVICES
from tests.events.conftest import delete_declared, queue_names
from tests.events.handlers import (
    BACKEND,
    BROKEN,
    FLAKY,
    HOLD,
    INVALIDATE,
    RECORD,
    backend_label,
    effects,
    failure_switch,
    release_switch,
)
from tests.processes import ROOT, celery_worker, clean_env, free_port
from tests.testapp.models import Label

WAIT = 45.0  # seconds: bound of every wait on the worker
MAX_RETRIES = 2


@dataclass
class Worker:
    names: dict[str, str]
    lines: queue.Queue[str]
    seen: list[str]

    def wait_until_ready(self, timeout: float = WAIT) -> None:
        if not any(" ready." in line for line in self.seen):
            self._read_until(lambda line: " ready." in line, "the worker's ready line", timeout)

    def wait_for_log(self, event: str, event_id: str, timeout: float = WAIT) -> dict[str, object]:
        def logged(line: str) -> bool:
            parsed = json.loads(line) if line.startswith("{") else {}
            return bool(parsed.get("event") == event and parsed.get("event_id") == event_id)

        return dict(json.loads(self._read_until(logged, f"{event} for {event_id}", timeout)))

    def _read_until(self, wanted: Callable[[str], bool], what: str, timeout: float) -> str:
        """The first line of the worker's output from now on that is `wanted` (each one read is kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if wanted(line):
                return line
        raise AssertionError(f"no {what} in {timeout}s; worker said:\n{''.join(self.seen[-40:])}")


def _need_shared_postgresql() -> None:
    """Workers share the test database: PostgreSQL, required in the real-service run (a skip there fails)."""
    if connection.vendor != "postgresql":
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL is required in this run but DATABASE_URL does not point at it")
        pytest.skip("needs PostgreSQL shared with the worker: set DATABASE_URL=postgres://...")


def _test_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"])))


def _worker_env(names: dict[str, str], broker_url: str) -> dict[str, str]:
    env = clean_env(
        **names,
        CELERY_BROKER_URL=broker_url,
        DATABASE_URL=_test_database_url(),
        DJANGO_SETTINGS_MODULE="tests.settings",
        LOG_FORMAT="json",
        EVENTS_HANDLER_MAX_RETRIES=str(MAX_RETRIES),
        EVENTS_RETRY_BACKOFF="0.2",
        EVENTS_RETRY_BACKOFF_MAX="1",
        PYTHONPATH=str(ROOT),
    )
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env


@pytest.fixture(scope="module", params=["classic", "quorum"])
def worker(
    request: pytest.FixtureRequest, broker_url: str, django_db_setup: None, django_db_blocker: object
) -> Iterator[Worker]:
    """A worker on this run's queues, of each `EVENTS_QUEUE_TYPE`: every test here holds on both."""
    _need_shared_postgresql()
    suffix = uuid.uuid4().hex[:10]
    names = {**queue_names(suffix), "EVENTS_QUEUE_TYPE": request.param}
    env = _worker_env(names, broker_url)
    try:
        with celery_worker(
            queue_name=names["EVENTS_QUEUE"], include="tests.events.handlers", env=env, name=f"events-test-{suffix}@%h"
        ) as lines:
            yield Worker(names, lines, [])
    finally:
        delete_declared(broker_url, names)


@pytest.fixture
def names(worker: Worker, settings: SettingsWrapper, transactional_db: None) -> dict[str, str]:
    """This run's queue names in the test process too (the relay and the commands read them)."""
    for name, value in worker.names.items():
        setattr(settings, name, value)
    assert not app.conf.task_always_eager, "these tests need a broker"
    declare_topology()
    return worker.names


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


def queue_depth(name: str) -> int:
    with Connection(app.conf.broker_url, connect_timeout=5) as broker:
        return broker_channel.queue_depth(broker.default_channel, name)


def publish_record(**payload: object) -> Event:
    return publish(RECORD, aggregate="label", aggregate_id=uuid.uuid4(), payload=payload)


def _broker_listing(broker_url: str, what: str, *columns: str) -> list[dict[str, Any]]:
    """`rabbitmqctl list_<what>` of the run's vhost: the broker's own view of what was declared."""
    vhost = unquote(urlsplit(broker_url).path[1:]) or "/"
    listed = subprocess.run(
        ["rabbitmqctl", f"list_{what}", "-p", vhost, *columns, "--formatter", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(listed.stdout)
    return rows


def test_the_queues_are_of_the_configured_type(worker: Worker, names: dict[str, str], broker_url: str) -> None:
    quorum = names["EVENTS_QUEUE_TYPE"] == "quorum"
    worker.wait_until_ready()  # its consumer has started: queues declared, delayed delivery bound
    queues = {row["name"]: row for row in _broker_listing(broker_url, "queues", "name", "type", "arguments")}
    for name in (names["EVENTS_QUEUE"], names["EVENTS_DEAD_LETTER_QUEUE"]):  # the tasks queue: on first use
        assert queues[name]["type"] == names["EVENTS_QUEUE_TYPE"], name
    events_arguments = {argument[0]: argument[2] for argument in queues[names["EVENTS_QUEUE"]]["arguments"]}
    assert events_arguments["x-dead-letter-exchange"] == names["EVENTS_DEAD_LETTER_EXCHANGE"]
    if quorum:  # a dead letter survives a leader change: at-least-once dead-lettering
        assert events_arguments["x-dead-letter-strategy"] == "at-least-once"
        assert events_arguments["x-overflow"] == "reject-publish"
    exchanges = {row["name"]: row["type"] for row in _broker_listing(broker_url, "exchanges", "name", "type")}
    assert exchanges[names["EVENTS_QUEUE"]] == ("topic" if quorum else "direct")
    # On quorum queues the worker bound the queue to kombu's delayed-delivery exchange: a retry's
    # countdown waits in the broker, not unacknowledged in the worker's memory.
    bindings = _broker_listing(broker_url, "bindings", "source_name", "destination_name", "routing_key")
    delayed = {
        (row["source_name"], row["routing_key"]) for row in bindings if row["destination_name"] == names["EVENTS_QUEUE"]
    }
    said = [line for line in worker.seen if "delayed" in line.lower() or "warn" in line.lower()]
    assert (("celery_delayed_delivery", f"#.{names['EVENTS_QUEUE']}") in delayed) is quorum, said


def test_an_event_is_published_only_after_commit(worker: Worker, names: dict[str, str]) -> None:
    with transaction.atomic():
        event = publish_record(step="committed")
        time.sleep(0.5)  # a relay that ignored the transaction would have published by now
        assert queue_depth(names["EVENTS_QUEUE"]) == 0
        assert OutboxEvent.objects.get(pk=event.id).status == OutboxStatus.PENDING
    wait_until(lambda: effects(event) == 1, "the committed event handled by the worker")
    assert OutboxEvent.objects.get(pk=event.id).status == OutboxStatus.SENT


def test_nothing_is_published_after_a_rollback(worker: Worker, names: dict[str, str]) -> None:
    rolled_back: list[Event] = []

    def failing_change() -> None:
        with transaction.atomic():
            rolled_back.append(publish_record(step="rolled back"))
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        failing_change()
    later = publish_record(step="after")
    # One queue, one worker, in order: once the later event is handled, an earlier one would have been.
    wait_until(lambda: effects(later) == 1, "the later event handled")
    assert effects(rolled_back[0]) == 0
    assert not OutboxEvent.objects.filter(pk=rolled_back[0].id).exists()
    assert not ProcessedEvent.objects.filter(event_id=rolled_back[0].id).exists()


def test_broker_down_during_the_write_keeps_the_events_and_delivers_them_once(
    worker: Worker, names: dict[str, str], settings: SettingsWrapper
) -> None:
    broker_url = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{free_port()}//"  # nothing listens there
    with transaction.atomic():
        events = [publish_record(n=n) for n in range(5)]
    assert background_relay.wait_until_idle(timeout=WAIT), "the on-commit relay ran, in the background"
    rows = OutboxEvent.objects.filter(pk__in=[event.id for event in events])
    assert [row.status for row in rows] == [OutboxStatus.PENDING] * 5
    assert {row.attempts for row in rows} == {0}, "an unreachable broker is not the rows' fault"
    assert broker_marked_down()

    with transaction.atomic():  # while marked down, commits do not wait on the broker again
        waiting = publish_record(n="while down")
    assert background_relay.wait_until_idle(timeout=WAIT)
    assert OutboxEvent.objects.get(pk=waiting.id).status == OutboxStatus.PENDING

    settings.CELERY_BROKER_URL = broker_url  # the broker is back: the periodic relay runs
    report = relay_outbox()
    assert (report.sent, report.broker_unavailable) == (6, False)
    assert not broker_marked_down()
    for event in [*events, waiting]:
        wait_until(lambda: effects(event) == 1, f"event {event.id} handled")  # noqa: B023 - called here, in this iteration
    assert relay_outbox().sent == 0, "a sent row is not published again"

    # A relay that crashed after publishing but before marking the row sent publishes it again:
    OutboxEvent.objects.filter(pk=events[0].id).update(status=OutboxStatus.PENDING)
    assert relay_outbox().sent == 1
    worker.wait_for_log("event_duplicate_skipped", str(events[0].id))
    assert [effects(event) for event in [*events, waiting]] == [1] * 6


def test_a_redelivered_message_is_processed_once(worker: Worker, names: dict[str, str]) -> None:
    tenant = uuid.uuid4()
    with request_scope(RequestScope(request_id="req-redelivery")), acting_as("user-7"), in_tenant(tenant):
        event = publish_record(step="redelivered")
    worker.wait_for_log("event_handled", str(event.id))
    # The same message again, straight onto the queue (as RabbitMQ redelivers an unacknowledged one).
    OutboxEvent.objects.filter(pk=event.id).update(status=OutboxStatus.PENDING)
    relay_outbox(ids=[event.id])
    line = worker.wait_for_log("event_duplicate_skipped", str(event.id))
    assert (line["request_id"], line["actor"], line["tenant"]) == ("req-redelivery", "user-7", str(tenant))
    assert effects(event) == 1
    assert ProcessedEvent.objects.filter(event_id=event.id).count() == 1


def test_a_delivery_is_logged_once_by_the_consumer_and_not_again_by_celery(
    worker: Worker, names: dict[str, str]
) -> None:
    first = publish_record(step="logged-once")
    worker.wait_for_log("event_handled", str(first.id))
    second = publish_record(step="logged-once, after")  # by its line, the first task's own lines are out
    worker.wait_for_log("event_handled", str(second.id))
    celerys = [line for line in worker.seen if f"{DELIVER_TASK}[{first.id}]" in line]
    assert celerys == [], "Celery's received/succeeded lines repeat event_handled (apps.events.task_logs)"


def _dead_letter(event: Event) -> DeadLetter:
    found: list[DeadLetter] = []

    def arrived() -> bool:
        found[:] = [letter for letter in dead_letters() if letter.id == str(event.id)]
        return bool(found)

    wait_until(arrived, f"{event.type} {event.id} in the dead-letter queue")
    return found[0]


def test_a_handler_that_keeps_failing_is_dead_lettered_with_its_headers_and_replay_delivers_it(
    worker: Worker, names: dict[str, str]
) -> None:
    aggregate_id = str(uuid.uuid4())
    Label.objects.create(name=failure_switch(aggregate_id))
    tenant = uuid.uuid4()
    with request_scope(RequestScope(request_id="req-dead")), acting_as("user-9"), in_tenant(tenant):
        event = publish(FLAKY, aggregate="label", aggregate_id=aggregate_id, payload={"a": 1})

    letter = _dead_letter(event)
    assert letter.task == "apps.events.deliver"
    assert letter.event_type == FLAKY
    assert (letter.reason, letter.queue) == ("rejected", names["EVENTS_QUEUE"])
    headers = letter.headers
    assert headers["retries"] == MAX_RETRIES, "dead only after its retries"
    assert (headers["x_request_id"], headers["x_actor"], headers["x_tenant"]) == ("req-dead", "user-9", str(tenant))
    assert headers["event_id"] == str(event.id)
    assert json.loads(letter.body)[0][0]["payload"] == {"a": 1}
    assert effects(event) == 0

    Label.objects.filter(name=failure_switch(aggregate_id)).delete()  # the dependency is back
    call_command("events_dead_letters", "--replay", str(event.id))
    wait_until(lambda: effects(event) == 1, "the replayed event handled")
    assert not [letter for letter in dead_letters() if letter.id == str(event.id)]


def test_a_permanent_failure_is_dead_lettered_without_retries_and_purge_drops_it(
    worker: Worker, names: dict[str, str]
) -> None:
    event = publish(BROKEN, aggregate="label", aggregate_id=1, payload={})
    letter = _dead_letter(event)
    assert letter.headers["retries"] == 0
    assert effects(event) == 0, "the handler's write was rolled back with its failure"
    assert not ProcessedEvent.objects.filter(event_id=event.id).exists()
    call_command("events_dead_letters", "--purge")
    assert queue_depth(names["EVENTS_DEAD_LETTER_QUEUE"]) == 0


def test_a_consumer_in_the_worker_invalidates_cache_tags_for_every_process(
    worker: Worker, names: dict[str, str], redis_url: str
) -> None:
    from apps.caching import cached

    run = uuid.uuid4().hex
    tag = f"events-test:{run}"
    computed: list[int] = []

    @cached(key_prefix=f"events-test-{run}", ttl=60, tags=lambda: [tag])  # this run's key: the test runs twice
    def value() -> int:
        computed.append(1)
        return len(computed)

    assert (value(), value()) == (1, 1), "the second call is a hit"
    event = publish(INVALIDATE, aggregate="cache", aggregate_id=tag, payload={"tag": tag})
    worker.wait_for_log("event_handled", str(event.id))
    wait_until(lambda: value() == 2, "the entry invalidated by the worker", timeout=10)


def test_the_worker_keeps_its_database_connection_from_one_event_to_the_next(
    worker: Worker, names: dict[str, str]
) -> None:
    # Celery's Django fixup alone reconnects around every task: a new server process per event.
    events = []
    for _ in range(3):
        events.append(publish(BACKEND, aggregate="label", aggregate_id=uuid.uuid4(), payload={}))
        wait_until(lambda: Label.objects.filter(name__startswith=backend_label(events[-1])).exists(), "handled")
    backends = {
        name.rsplit(":", 1)[1] for name in Label.objects.filter(name__startswith="be:").values_list("name", flat=True)
    }
    assert len(backends) == 1, backends


def test_a_worker_killed_in_the_middle_of_a_task_loses_no_event_and_its_effect_happens_once(
    broker_url: str, transactional_db: None, settings: SettingsWrapper
) -> None:
    """SIGKILL (a lost node, the OOM killer): nothing acknowledged, nothing committed; the next worker does it."""
    _need_shared_postgresql()
    names = queue_names(uuid.uuid4().hex[:10])
    for name, value in names.items():
        setattr(settings, name, value)
    env = _worker_env(names, broker_url)
    start = partial(celery_worker, queue_name=names["EVENTS_QUEUE"], include="tests.events.handlers", env=env)
    try:
        declare_topology()
        with start(name=f"events-kill-a-{uuid.uuid4().hex[:6]}@%h") as lines:
            first = Worker(names, lines, [])
            event = publish(HOLD, aggregate="label", aggregate_id=uuid.uuid4(), payload={})
            first.wait_for_log("test_event_holding", str(event.id))
            assert effects(event) == 0, "the effect is the handler's, uncommitted while it runs"
            os.kill(lines.process.pid, signal.SIGKILL)
            lines.process.wait(10)
        Label.objects.create(name=release_switch(event))  # the next attempt finishes at once
        with start(name=f"events-kill-b-{uuid.uuid4().hex[:6]}@%h") as lines:
            second = Worker(names, lines, [])
            second.wait_for_log("event_handled", str(event.id))
        assert effects(event) == 1
        assert ProcessedEvent.objects.filter(event_id=event.id).count() == 1
        assert queue_depth(names["EVENTS_QUEUE"]) == 0, "acknowledged by the second worker"
    finally:
        delete_declared(broker_url, names)


def test_sigterm_lets_a_worker_finish_its_task_before_it_exits(
    broker_url: str, transactional_db: None, settings: SettingsWrapper
) -> None:
    """A rollout's SIGTERM (Kubernetes, docs/scaling.md): Celery's warm shutdown takes no new task and
    finishes the running one, which commits its effect and is acknowledged."""
    _need_shared_postgresql()
    names = queue_names(uuid.uuid4().hex[:10])
    for name, value in names.items():
        setattr(settings, name, value)
    env = _worker_env(names, broker_url)
    try:
        declare_topology()
        with celery_worker(
            queue_name=names["EVENTS_QUEUE"],
            include="tests.events.handlers",
            env=env,
            name=f"events-term-{uuid.uuid4().hex[:6]}@%h",
        ) as lines:
            worker = Worker(names, lines, [])
            event = publish(HOLD, aggregate="label", aggregate_id=uuid.uuid4(), payload={})
            worker.wait_for_log("test_event_holding", str(event.id))
            lines.process.send_signal(signal.SIGTERM)
            Label.objects.create(name=release_switch(event))  # the handler can finish now
            worker.wait_for_log("event_handled", str(event.id))
            assert lines.process.wait(30) == 0, "exited by itself once the task was done"
        assert effects(event) == 1
        assert queue_depth(names["EVENTS_QUEUE"]) == 0, "acknowledged before the worker exited"
    finally:
        delete_declared(broker_url, names)
