"""publish(): one outbox row in the caller's transaction, with the caller's context; relayed on commit."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.core.bulk_copy import copies
from apps.core.context import RequestScope, acting_as, in_tenant, request_scope
from apps.events import publish, publish_many
from apps.events.models import OutboxEvent, OutboxStatus, ProcessedEvent
from apps.events.outbox import COPY_FROM
from tests.events.handlers import RECORD, effects

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


def test_publish_records_the_event_with_the_callers_context() -> None:
    tenant = uuid.uuid4()
    with request_scope(RequestScope(request_id="req-1")), acting_as("user-1"), in_tenant(tenant):
        event = publish(RECORD, aggregate="label", aggregate_id=42, payload={"title": "a"}, version=2)
    row = OutboxEvent.objects.get(pk=event.id)
    assert (row.event_type, row.version, row.aggregate, row.aggregate_id) == (RECORD, 2, "label", "42")
    assert (row.actor, row.tenant_id, row.request_id) == ("user-1", tenant, "req-1")
    assert row.payload == {"title": "a"}
    assert row.to_event() == event
    assert event.id.version == 7, "time-ordered ids"


def test_the_payload_is_normalised_to_what_consumers_receive() -> None:
    when = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    key = uuid.uuid4()
    event = publish(RECORD, aggregate="a", aggregate_id=1, payload={"at": when, "key": key, "price": Decimal("1.50")})
    assert event.payload == {"at": "2025-01-02T03:04:05Z", "key": str(key), "price": "1.50"}


def test_a_payload_that_is_not_json_is_refused_before_anything_is_written() -> None:
    with pytest.raises(TypeError):
        publish(RECORD, aggregate="a", aggregate_id=1, payload={"bad": object()})
    assert not OutboxEvent.objects.exists()


def test_the_events_of_a_transaction_are_handled_after_it_commits() -> None:
    with transaction.atomic():
        first = publish(RECORD, aggregate="a", aggregate_id=1, payload={})
        second = publish(RECORD, aggregate="a", aggregate_id=2, payload={})
        assert (effects(first), effects(second)) == (0, 0), "nothing runs before the commit"
    assert (effects(first), effects(second)) == (1, 1)
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


def test_a_rolled_back_transaction_leaves_no_event() -> None:
    def change() -> None:
        with transaction.atomic():
            publish(RECORD, aggregate="a", aggregate_id=1, payload={})
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        change()
    assert not OutboxEvent.objects.exists()
    assert not ProcessedEvent.objects.exists()


def test_an_event_of_a_rolled_back_savepoint_is_dropped_and_the_rest_relayed() -> None:
    with transaction.atomic():
        kept = publish(RECORD, aggregate="a", aggregate_id=1, payload={})
        try:
            with transaction.atomic():
                publish(RECORD, aggregate="a", aggregate_id=2, payload={})
                raise RuntimeError("inner change fails")
        except RuntimeError:
            pass
        after = publish(RECORD, aggregate="a", aggregate_id=3, payload={})
    assert OutboxEvent.objects.count() == 2
    assert (effects(kept), effects(after)) == (1, 1)


def test_with_relay_on_commit_off_rows_wait_for_the_periodic_relay(settings: SettingsWrapper) -> None:
    from apps.events.relay import relay_outbox

    settings.EVENTS_RELAY_ON_COMMIT = False
    event = publish(RECORD, aggregate="a", aggregate_id=1, payload={})
    assert OutboxEvent.objects.get(pk=event.id).status == OutboxStatus.PENDING
    assert relay_outbox().sent == 1
    assert effects(event) == 1


def test_publish_many_writes_every_event_in_one_statement_and_relays_them_after_commit() -> None:
    tenant, reference = uuid.uuid4(), uuid.uuid4()
    items = [
        (n, {"n": n, "ref": reference, "on": datetime.date(2026, 12, 2), "amount": Decimal("1.50")}) for n in range(50)
    ]
    with acting_as("user-2"), in_tenant(tenant), CaptureQueriesContext(connection) as queries, transaction.atomic():
        events = publish_many(RECORD, aggregate="label", items=items)
        inserts = [query for query in queries if query["sql"].startswith('INSERT INTO "events_outbox"')]
        if copies(connection.alias):  # streamed with COPY FROM STDIN, not through the ORM's INSERT
            assert inserts == []
        else:
            assert len(inserts) == 1, "one INSERT for the lot"
        assert [effects(event) for event in events] == [0] * 50, "nothing runs before the commit"
        # The columns COPY writes by hand hold what the model's defaults give an ORM insert.
        pending = OutboxEvent.objects.values_list("status", "attempts", "sent_at", "last_error", "available_at")
        assert set(pending) == {(OutboxStatus.PENDING, 0, None, "", events[0].occurred_at)}
    assert [event.aggregate_id for event in events] == [str(n) for n in range(50)]
    assert events[7].payload == {"n": 7, "ref": str(reference), "on": "2026-12-02", "amount": "1.50"}
    rows = {row.id: row for row in OutboxEvent.objects.all()}
    assert [rows[event.id].to_event() for event in events] == events
    assert {(row.actor, row.tenant_id) for row in rows.values()} == {("user-2", tenant)}
    assert [effects(event) for event in events] == [1] * 50


def test_a_few_events_are_one_insert_on_every_database() -> None:
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        publish_many(RECORD, aggregate="label", items=[(n, {}) for n in range(COPY_FROM - 1)])
    inserts = [query for query in queries if query["sql"].startswith('INSERT INTO "events_outbox"')]
    assert len(inserts) == 1
    assert OutboxEvent.objects.count() == COPY_FROM - 1


def test_publish_many_checks_every_payload_before_writing_any() -> None:
    with pytest.raises(TypeError):
        publish_many(RECORD, aggregate="a", items=[(1, {"ok": 1}), (2, {"bad": object()})])
    assert not OutboxEvent.objects.exists()
    assert publish_many(RECORD, aggregate="a", items=[]) == []


def test_one_notify_per_transaction_wakes_the_relays_on_postgresql(postgres: None, settings: SettingsWrapper) -> None:
    settings.EVENTS_RELAY_ON_COMMIT = False
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        publish(RECORD, aggregate="a", aggregate_id=1, payload={})
        publish_many(RECORD, aggregate="a", items=[(2, {}), (3, {})])
    assert [query["sql"] for query in queries if "NOTIFY" in query["sql"]] == ["NOTIFY events_outbox"]
