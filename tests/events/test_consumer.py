"""consume(): each subscriber's effect and its handled-event record commit together, once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.core.context import acting_as, current_actor, current_request_id, current_tenant, in_tenant
from apps.documents.models import Document
from apps.events import Event, PermanentError, TransientError, UnknownEventType, handles
from apps.events.consumer import consume
from apps.events.models import HandledEvent, OutboxEvent, OutboxStatus, ProcessedEvent
from apps.events.registry import handlers_for, unregister
from apps.events.relay import relay_outbox
from tests.events.handlers import BROKEN, FLAKY, RECORD, effects, failure_switch
from tests.testapp.models import Label

pytestmark = pytest.mark.django_db


def make_event(event_type: str = RECORD, **fields: object) -> Event:
    values: dict[str, object] = {"id": uuid.uuid4(), "type": event_type, "version": 1, "occurred_at": timezone.now()}
    values |= {"aggregate": "label", "aggregate_id": "1"} | fields
    return Event(**values)  # type: ignore[arg-type]


def test_a_second_delivery_of_the_same_event_has_no_effect() -> None:
    event = make_event()
    assert consume(event) == "handled"
    assert consume(event) == "duplicate"
    assert effects(event) == 1
    assert ProcessedEvent.objects.filter(event_id=event.id).count() == 1


def test_a_failing_handler_leaves_neither_effect_nor_record() -> None:
    event = make_event(BROKEN)
    with pytest.raises(PermanentError):
        consume(event)
    assert effects(event) == 0
    assert not ProcessedEvent.objects.filter(event_id=event.id).exists()


def test_a_lone_subscriber_whose_record_a_racing_delivery_committed_is_skipped_and_the_connection_stays_usable() -> (
    None
):
    # A single subscriber runs without savepoints: the duplicate record fails the delivery's own transaction.
    event = make_event()
    HandledEvent.objects.create(event_id=event.id, handler=handlers_for(RECORD)[0][0], event_type=RECORD)
    assert consume(event) == "duplicate"
    assert effects(event) == 0
    assert not ProcessedEvent.objects.filter(event_id=event.id).exists()  # the racing delivery writes it
    assert consume(make_event()) == "handled"  # nothing left broken on the connection


def test_a_lone_subscriber_that_fails_after_writing_retries_from_scratch() -> None:
    event = make_event(FLAKY, aggregate_id="lone")
    Label.objects.create(name=failure_switch("lone"))
    with pytest.raises(TransientError):
        consume(event)
    assert not HandledEvent.objects.filter(event_id=event.id).exists()
    Label.objects.filter(name=failure_switch("lone")).delete()
    assert consume(event) == "handled"
    assert effects(event) == 1


def test_the_handler_runs_as_the_events_actor_tenant_and_request() -> None:
    seen: list[tuple[object, ...]] = []

    @handles("test.events.context")
    def capture(event: Event) -> None:
        seen.append((current_actor(), current_tenant(), current_request_id()))

    tenant = uuid.uuid4()
    try:
        consume(make_event("test.events.context", actor="user-5", tenant=tenant, request_id="req-5"))
        anonymous = make_event("test.events.context")
        consume(anonymous)
    finally:
        unregister("test.events.context")
    assert seen == [("user-5", tenant, "req-5"), (None, None, str(anonymous.id))]
    assert current_actor() is None, "nothing leaks out of the handler"


def test_an_event_nobody_handles_is_a_permanent_error() -> None:
    with pytest.raises(UnknownEventType):
        consume(make_event("test.events.nobody"))


SHARED = "test.events.shared"


@dataclass
class Subscribers:
    """What the two subscribers of SHARED handled, and the switch that makes `fragile` fail."""

    steady: list[uuid.UUID] = field(default_factory=list)
    fragile: list[uuid.UUID] = field(default_factory=list)
    failure: BaseException | None = None


@pytest.fixture
def two() -> Iterator[Subscribers]:
    """`steady` subscribes to SHARED and always succeeds; `fragile`, to `test.events.*`, fails on demand."""
    seen = Subscribers()

    @handles(SHARED)
    def steady(event: Event) -> None:
        Label.objects.create(name=f"steady:{event.id}")
        seen.steady.append(event.id)

    @handles("test.events.*")
    def fragile(event: Event) -> None:
        if event.type != SHARED:
            return
        Label.objects.create(name=f"fragile:{event.id}")  # rolled back with the failure
        if seen.failure is not None:
            raise seen.failure
        seen.fragile.append(event.id)

    try:
        yield seen
    finally:
        unregister(SHARED, steady)
        unregister("test.events.*", fragile)


def test_every_subscriber_runs_once_and_a_redelivery_runs_none(two: Subscribers) -> None:
    event = make_event(SHARED)
    assert consume(event) == "handled"
    assert consume(event) == "duplicate"
    assert two.steady == two.fragile == [event.id]
    handled = HandledEvent.objects.filter(event_id=event.id)
    assert sorted(handled.values_list("handler", flat=True)) == [
        "tests.events.test_consumer.two.<locals>.fragile",
        "tests.events.test_consumer.two.<locals>.steady",
    ]
    assert ProcessedEvent.objects.filter(event_id=event.id).count() == 1


def test_a_retry_after_one_subscriber_failed_runs_only_that_one(two: Subscribers) -> None:
    two.failure = TransientError("down")
    event = make_event(SHARED)
    with pytest.raises(TransientError):
        consume(event)
    assert two.steady == [event.id], "the other subscriber's effect is committed"
    assert not Label.objects.filter(name=f"fragile:{event.id}").exists(), "the failed one left nothing"
    assert not ProcessedEvent.objects.filter(event_id=event.id).exists(), "the relay sees it unfinished"
    two.failure = None
    assert consume(event) == "handled"
    assert two.steady == [event.id], "not run again by the retry"
    assert two.fragile == [event.id]
    assert Label.objects.filter(name=f"steady:{event.id}").count() == 1
    assert ProcessedEvent.objects.filter(event_id=event.id).exists()


def test_a_permanent_failure_wins_over_a_transient_one(two: Subscribers) -> None:
    @handles(SHARED)
    def flaky_too(event: Event) -> None:
        raise TransientError("later")

    two.failure = PermanentError("never")
    try:
        with pytest.raises(PermanentError):
            consume(make_event(SHARED))
    finally:
        unregister(SHARED, flaky_too)


def test_a_type_a_model_declares_is_handled_with_no_subscriber() -> None:
    event = make_event("documents.bulk_upserted")  # the real-time stream carries document.* only
    assert handlers_for("documents.bulk_upserted") == []
    assert consume(event) == "handled"
    assert ProcessedEvent.objects.filter(event_id=event.id).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager")
def test_through_the_relay_a_document_write_reaches_every_subscriber_once_and_a_retry_only_the_failed_one(
    settings: SettingsWrapper,
) -> None:
    settings.EVENTS_RELAY_ON_COMMIT = False  # the test drives the relay
    ran: list[str] = []
    failing: list[bool] = [True]

    @handles("document.*")
    def audit_trail(event: Event) -> None:
        Label.objects.create(name=f"trail:{event.type}")
        ran.append("trail")

    @handles("document.created")
    def search_index(event: Event) -> None:
        if failing:
            raise TransientError("the index is down")
        ran.append("index")

    try:
        with in_tenant(uuid.uuid4()), acting_as("script:seed"):
            document = Document.objects.create(title="Relayed")  # a script's write: no service, no publish()
        row = OutboxEvent.objects.get(event_type="document.created", aggregate_id=str(document.pk))
        assert relay_outbox().retried == 1
        assert ran == ["trail"]
        assert OutboxEvent.objects.get(pk=row.pk).status == OutboxStatus.PENDING
        failing.clear()
        OutboxEvent.objects.filter(pk=row.pk).update(available_at=timezone.now())
        assert relay_outbox().sent == 1
        assert ran == ["trail", "index"], "the retry ran only the subscriber that had failed"
        assert Label.objects.filter(name="trail:document.created").count() == 1
    finally:
        unregister("document.*", audit_trail)
        unregister("document.created", search_index)
        Document.all_objects.all().hard_delete()
