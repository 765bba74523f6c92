"""The `events_relay` loop: woken by the commit's NOTIFY (PostgreSQL), one broker connection for its passes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.events import publish
from apps.events import relay_loop as relay_loop_module
from apps.events.lag import relay_lag_seconds
from apps.events.models import OutboxEvent, OutboxStatus
from apps.events.relay_loop import RelayLoop
from tests.events.handlers import RECORD

# "__all__": behind PgBouncer the loop LISTENs on the `direct` alias (EVENTS_LISTEN_DATABASE).
pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("eager")]


@pytest.fixture
def loop(settings: SettingsWrapper) -> Iterator[RelayLoop]:
    settings.EVENTS_RELAY_ON_COMMIT = False  # only the loop relays
    settings.EVENTS_RELAY_INTERVAL = 30.0  # the fallback, far beyond what these tests wait
    relay_loop = RelayLoop()
    thread = threading.Thread(target=relay_loop.run, daemon=True)
    thread.start()
    try:
        yield relay_loop
    finally:
        relay_loop.stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the loop sees its stop within a second"


def _until(condition: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"not within {timeout}s"
        time.sleep(0.005)
    return time.monotonic() - started


def _sent(event_id: uuid.UUID) -> bool:
    return OutboxEvent.objects.filter(pk=event_id, status=OutboxStatus.SENT).exists()


def test_a_commit_wakes_the_relay_at_once_through_notify(
    postgres: None, event_queues: dict[str, str], loop: RelayLoop
) -> None:
    assert connection.vendor == "postgresql"
    _until(lambda: loop.listener.listening, timeout=10)
    for n in range(3):  # several wake-ups, each on one connection
        with transaction.atomic():
            event = publish(RECORD, aggregate="a", aggregate_id=n, payload={})
            time.sleep(0.3)
            assert not _sent(event.id), "nothing is relayed before the commit"
        latency = _until(partial(_sent, event.id), timeout=20)
        # Milliseconds when idle; the bound only has to rule out the 30 s interval (which would fire ~30 s
        # after the previous pass), with room for a loaded machine.
        assert latency < 10.0, f"woken by the commit, not by the {30}s interval ({latency:.3f}s)"
    assert loop.connections_opened == 1, "one broker connection for every pass"


def test_a_rolled_back_transaction_wakes_nobody(postgres: None, event_queues: dict[str, str], loop: RelayLoop) -> None:
    _until(lambda: loop.listener.listening, timeout=10)
    passes = loop.passes

    def rolled_back() -> None:
        with transaction.atomic():
            publish(RECORD, aggregate="a", aggregate_id=1, payload={})
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        rolled_back()
    time.sleep(0.5)
    assert loop.passes == passes, "no NOTIFY is delivered for a transaction that did not commit"


def test_behind_a_pooler_without_a_direct_url_the_relay_polls(settings: SettingsWrapper) -> None:
    from apps.events.wakeup import OutboxListener

    settings.EVENTS_LISTEN_DATABASE = None
    listener = OutboxListener()
    started = time.monotonic()
    assert listener.wait(0.2) is False, "nothing to LISTEN on: it sleeps the interval"
    assert time.monotonic() - started >= 0.2
    assert not listener.listening


def test_the_lag_gauge_is_measured_once_a_second_not_once_per_pass(
    postgres: None, event_queues: dict[str, str], monkeypatch: pytest.MonkeyPatch, settings: SettingsWrapper
) -> None:
    measured: list[float] = []

    def counted(using: str) -> float:
        measured.append(time.monotonic())
        return relay_lag_seconds(using)

    monkeypatch.setattr(relay_loop_module, "relay_lag_seconds", counted)
    # The loop's clock stands still until the test moves it: "within LAG_EVERY" does not depend on how
    # fast five passes run on a loaded machine, nor "after LAG_EVERY" on a sleep.
    now = [time.monotonic()]
    monkeypatch.setattr(relay_loop_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    settings.EVENTS_RELAY_ON_COMMIT = False
    settings.EVENTS_RELAY_INTERVAL = 30.0
    loop = RelayLoop()
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        _until(lambda: loop.listener.listening, timeout=10)
        for n in range(5):  # five passes within the same instant of the loop's clock
            with transaction.atomic():
                event = publish(RECORD, aggregate="a", aggregate_id=n, payload={})
            _until(partial(_sent, event.id), timeout=30)
        assert loop.passes >= 5
        assert len(measured) == 1, "the first pass measures the lag, the next ones within LAG_EVERY do not"
        now[0] += relay_loop_module.LAG_EVERY
        with transaction.atomic():
            event = publish(RECORD, aggregate="a", aggregate_id=9, payload={})
        _until(partial(_sent, event.id), timeout=30)
        # The pass reports (and measures) after it marked the row sent: wait for it, then count.
        _until(lambda: len(measured) >= 2, timeout=30)
        assert len(measured) == 2, "a pass after LAG_EVERY measures it again, once"
    finally:
        loop.stop.set()
        thread.join(10)
