"""GraphQL subscriptions at `/ws/graphql/` (graphql-transport-ws) in process: auth, ACLs, tenants, protocol, bounds.

The channel layer is the configured one (in memory embedded, Redis pub/sub with `REDIS_URL`); the
events are sent as the worker's handler sends them (`fan_out`). The real server, with real writes
through the outbox path, is in test_server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.accent_auth.services import token_revoke
from apps.core.errors import PermissionDenied
from apps.core.metric_names import metric_name
from apps.core.uuid7 import uuid7
from apps.realtime.graphql_socket import CLOSE_SLOW_SUBSCRIBER, _Listener
from apps.realtime.hub import hub
from project.asgi import application
from tests.realtime.communicator import WebsocketCommunicator
from tests.realtime.test_consumer import (
    ACME,
    GLOBEX,
    QUIET,
    _fresh_breaker,  # noqa: F401 - the autouse fixture, here too
    acl_of,
    document_event,
    fan_out_now,
    open_sockets,
    run,
)

PATH = "/ws/graphql/"
PROTOCOL = "graphql-transport-ws"
pytestmark = pytest.mark.django_db(transaction=True)
SUBSCRIPTION = "subscription { documentEvents { id type version occurredAt documentId payload actor } }"


@contextlib.asynccontextmanager
async def graphql_socket(
    *, max_pending: int = 0, subprotocols: list[str] | None = None
) -> AsyncIterator[WebsocketCommunicator]:
    communicator = WebsocketCommunicator(
        application, PATH, max_pending=max_pending, subprotocols=[PROTOCOL] if subprotocols is None else subprotocols
    )
    connected, _ = await communicator.connect()
    assert connected
    try:
        yield communicator
    finally:
        await communicator.disconnect()


async def initialised(communicator: WebsocketCommunicator, token: str) -> dict[str, Any]:
    await communicator.send_json_to({"type": "connection_init", "payload": {"token": token}})
    ack: dict[str, Any] = await communicator.receive_json_from(timeout=5)
    assert ack["type"] == "connection_ack", ack
    return ack


async def subscribe(communicator: WebsocketCommunicator, operation_id: str = "1", query: str = SUBSCRIPTION) -> None:
    """Subscribe, and wait until the subscription is live (its listener is in the hub: the protocol has no ack)."""
    members = sum(len(group) for group in hub().members.values())
    await communicator.send_json_to({"id": operation_id, "type": "subscribe", "payload": {"query": query}})
    for _ in range(500):
        if sum(len(group) for group in hub().members.values()) > members:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription never joined its group")


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 5) -> tuple[int, str]:
    while (output := await communicator.receive_output(timeout=timeout))["type"] == "websocket.send":
        pass
    assert output["type"] == "websocket.close", output
    return int(output["code"]), str(output.get("reason", ""))


async def next_event(communicator: WebsocketCommunicator, operation_id: str = "1") -> dict[str, Any]:
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "next", message
    assert message["id"] == operation_id
    assert "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["documentEvents"]
    return event


# -- events --------------------------------------------------------------------------------------


def test_a_subscriber_receives_its_tenants_event_as_the_events_socket_carries_it(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as alice:
            ack = await initialised(alice, token)
            assert ack["payload"]["tenant"] == str(ACME)
            await subscribe(alice)
            event = document_event(ACME)
            await fan_out_now(event)
            received = await next_event(alice)
            assert received == {
                "id": str(event.id),
                "type": "document.created",
                "version": 1,
                "occurredAt": event.occurred_at.isoformat().replace("+00:00", "Z"),
                "documentId": event.aggregate_id,
                "payload": {"title": "Plan"},
                "actor": "alice",
            }
            await alice.send_json_to({"id": "1", "type": "complete"})
            for _ in range(500):  # the listener leaves its group
                if not any(hub().members.values()):
                    break
                await asyncio.sleep(0.01)
            await fan_out_now(document_event(ACME))
            assert await alice.receive_nothing(QUIET), await alice.receive_output()

    run(scenario)


def test_each_tenant_receives_only_its_own_events(accent_auth: Any) -> None:
    alice_token, bob_token = accent_auth.login("alice"), accent_auth.login("bob")

    async def scenario() -> None:
        async with graphql_socket() as alice, graphql_socket() as bob:
            await initialised(alice, alice_token)
            await initialised(bob, bob_token)
            await subscribe(alice)
            await subscribe(bob)
            acme_event, globex_event = document_event(ACME), document_event(GLOBEX)
            await fan_out_now(acme_event)
            await fan_out_now(globex_event)
            assert (await next_event(alice))["id"] == str(acme_event.id)
            assert (await next_event(bob))["id"] == str(globex_event.id)
            assert await alice.receive_nothing(QUIET)
            assert await bob.receive_nothing(QUIET)

    run(scenario)


def test_an_event_needs_the_read_acl_of_its_document_and_a_redelivery_is_sent_once(accent_auth: Any) -> None:
    allowed = str(uuid7())
    with acl_of(accent_auth, "alice", ["documents.events.read", f"documents.{allowed}.read"]):
        token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            await subscribe(caller)
            await fan_out_now(document_event(ACME))  # another document: not readable
            readable = document_event(ACME, aggregate_id=allowed)
            await fan_out_now(readable)
            await fan_out_now(readable)
            assert (await next_event(caller))["id"] == str(readable.id)
            assert await caller.receive_nothing(QUIET)

    run(scenario)


def test_subscribing_without_the_streams_acl_is_an_error_for_that_subscription(accent_auth: Any) -> None:
    with acl_of(accent_auth, "alice", ["documents.read", "documents.*.read", "!documents.events.read"]):
        token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            await caller.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            refused = await caller.receive_json_from(timeout=5)
            assert refused["type"] == "error", refused
            assert refused["id"] == "1"
            (error,) = refused["payload"]
            assert error["extensions"]["code"] == "permission_denied"
            assert "documents.events.read" in error["message"]
            await fan_out_now(document_event(ACME))
            await caller.send_json_to({"type": "ping"})
            assert await caller.receive_json_from(timeout=5) == {"type": "pong"}, "the socket stays open"

    run(scenario)


@pytest.mark.usefixtures("channel_layer_down")
def test_a_channel_layer_that_is_down_is_a_dependency_error_for_that_subscription(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            await caller.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            refused = await caller.receive_json_from(timeout=5)
            assert refused["type"] == "next", refused  # the source failed: its one result is the error
            codes = [error["extensions"]["code"] for error in refused["payload"]["errors"]]
            assert codes == ["dependency_unavailable"], refused
            assert await caller.receive_json_from(timeout=5) == {"id": "1", "type": "complete"}
            await caller.send_json_to({"type": "ping"})
            assert await caller.receive_json_from(timeout=5) == {"type": "pong"}, "the socket stays open"

    run(scenario)


def test_queries_and_mutations_go_over_http_not_the_socket(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            query = "{ documents(first: 5) { edges { node { id } } } }"
            await caller.send_json_to({"id": "q", "type": "subscribe", "payload": {"query": query}})
            answer = await caller.receive_json_from(timeout=5)
            assert answer["type"] == "next", answer
            assert answer["payload"]["errors"][0]["extensions"]["code"] == "invalid"
            assert (await caller.receive_json_from(timeout=5)) == {"id": "q", "type": "complete"}

    run(scenario)


# -- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"token": "not-a-token"}, 4403),
        ({}, 4403),
        ({"token": "TOKEN", "tenant": "not-a-uuid"}, 4400),
        ({"token": "TOKEN", "tenant": 5}, 4400),
    ],
    ids=["unknown-token", "no-token", "malformed-tenant", "tenant-not-a-string"],
)
def test_a_refused_connection_init_closes_with_the_protocols_code(
    accent_auth: Any, payload: dict[str, object], code: int
) -> None:
    token = accent_auth.login("alice")
    payload = {key: token if value == "TOKEN" else value for key, value in payload.items()}

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await caller.send_json_to({"type": "connection_init", "payload": payload})
            assert (await closed_with(caller))[0] == code

    run(scenario)


def test_the_token_is_not_taken_from_the_query_string_or_headers(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        communicator = WebsocketCommunicator(
            application, PATH, headers=[(b"x-auth-token", token.encode())], subprotocols=[PROTOCOL]
        )
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        assert (await closed_with(communicator))[0] == 4401, "no connection_ack yet: the protocol's Unauthorized"
        await communicator.disconnect()

    run(scenario)


def test_no_connection_init_in_time_closes_with_4408(accent_auth: Any, settings: SettingsWrapper) -> None:
    settings.REALTIME_AUTH_TIMEOUT = 0.3

    async def scenario() -> None:
        async with graphql_socket() as caller:
            assert (await closed_with(caller))[0] == 4408

    run(scenario)


def test_accent_auth_down_closes_with_try_again_later(accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    accent_auth.set_unavailable(True)

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await caller.send_json_to({"type": "connection_init", "payload": {"token": token}})
            assert (await closed_with(caller))[0] == 1013

    run(scenario)


# -- malformed messages: the protocol's close, never a crash --------------------------------------


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", 4400),
        (b"binary", 4400),
        ("[1, 2]", 4400),
        ('"a string"', 4400),
        ('{"no": "type"}', 4400),
        ('{"type": "nonsense"}', 4400),
        ('{"type": "subscribe", "id": "1"}', 4400),
        ('{"type": "subscribe", "id": "1", "payload": "not an object"}', 4400),
        ('{"type": "subscribe", "id": "1", "payload": {"query": 5}}', 4400),
        ('{"type": "subscribe", "id": 7, "payload": {"query": "subscription { documentEvents { id } }"}}', 4400),
        ('{"type": "connection_init", "payload": {}}', 4429),
    ],
    ids=[
        "not-json",
        "binary",
        "a-list",
        "a-string",
        "no-type",
        "unknown-type",
        "no-payload",
        "payload-not-an-object",
        "query-not-a-string",
        "id-not-a-string",
        "second-init",
    ],
)
def test_a_malformed_message_closes_with_the_protocols_code(accent_auth: Any, message: str | bytes, code: int) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            if isinstance(message, bytes):
                await caller.send_to(bytes_data=message)
            else:
                await caller.send_to(text_data=message)
            assert (await closed_with(caller))[0] == code
            assert not caller.task.done() or caller.task.exception() is None

    run(scenario)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("subscription {", "malformed_request"),
        ("subscription { documentEvents { nope } }", "invalid"),
        ("subscription { a: documentEvents { id } b: documentEvents { id } }", "invalid"),
    ],
    ids=["syntax-error", "unknown-field", "two-root-fields"],
)
def test_a_query_graphql_refuses_is_an_error_for_that_operation(accent_auth: Any, query: str, code: str) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            await caller.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": query}})
            refused = await caller.receive_json_from(timeout=5)
            assert (refused["type"], refused["id"]) == ("error", "1"), refused
            assert refused["payload"][0]["extensions"] == {"code": code, "status": 400}
            await subscribe(caller, "1")  # the id is free again, the socket open

    run(scenario)


def test_a_duplicate_operation_id_closes_with_4409_and_no_subprotocol_with_4406(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            await subscribe(caller)
            await caller.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            assert (await closed_with(caller))[0] == 4409
        async with graphql_socket(subprotocols=["graphql-ws"]) as legacy:
            assert (await closed_with(legacy))[0] == 4406

    run(scenario)


# -- the token's life and the bounds ----------------------------------------------------------------


def test_the_socket_is_closed_when_its_token_expires(accent_auth: Any) -> None:
    token = accent_auth.login("alice", expiration=2)

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            await subscribe(caller)
            code, reason = await closed_with(caller, timeout=10)
            assert (code, reason) == (4401, "The token has expired.")

    run(scenario)


def test_a_revoked_token_closes_its_socket_at_the_next_revalidation(
    accent_auth: Any, settings: SettingsWrapper
) -> None:
    settings.REALTIME_REVALIDATE_SECONDS = 0.3
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            await subscribe(caller)
            assert await caller.receive_nothing(0.5), "a valid token is revalidated silently"
            await sync_to_async(token_revoke, thread_sensitive=False)(token=token)
            assert (await closed_with(caller))[0] == 4401

    run(scenario)


def drops() -> float:
    return REGISTRY.get_sample_value(metric_name("realtime_closes_total"), {"code": str(CLOSE_SLOW_SUBSCRIBER)}) or 0.0


def test_a_client_that_stops_reading_is_closed_instead_of_queueing_forever(
    accent_auth: Any, settings: SettingsWrapper
) -> None:
    settings.REALTIME_MAX_QUEUED_FRAMES = 4
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket(max_pending=2) as slow:
            await initialised(slow, token)
            await subscribe(slow)
            closes_before = drops()
            for _ in range(20):  # the client reads nothing meanwhile: its transport holds 2, the queue 4
                await fan_out_now(document_event(ACME))
            for _ in range(200):  # through Redis pub/sub the events reach the socket a little later
                if drops() > closes_before:
                    break
                await asyncio.sleep(0.05)
            received: list[dict[str, Any]] = []
            while (output := await slow.receive_output(timeout=5))["type"] == "websocket.send":
                received.append(orjson.loads(output["text"]))
            assert output["code"] == CLOSE_SLOW_SUBSCRIBER
            assert len([message for message in received if message["type"] == "next"]) <= 2 + 4 + 1

    run(scenario)


def test_a_client_that_sends_without_reading_the_answers_is_closed_too(
    accent_auth: Any, settings: SettingsWrapper
) -> None:
    settings.REALTIME_MAX_QUEUED_FRAMES = 4
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket(max_pending=1) as flood:
            await initialised(flood, token)
            for _ in range(20):  # pongs it never reads: the handler waits on the first, the pings pile up
                await flood.send_json_to({"type": "ping"})
            await asyncio.sleep(0.3)  # and reads nothing meanwhile
            code, _ = await closed_with(flood)
            assert code == CLOSE_SLOW_SUBSCRIBER

    run(scenario)


def test_the_query_limits_apply_to_subscriptions(accent_auth: Any, settings: SettingsWrapper) -> None:
    settings.GRAPHQL_MAX_TOKENS = 5
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            await caller.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            refused = await caller.receive_json_from(timeout=5)
            assert refused["type"] == "error", refused
            assert refused["payload"][0]["extensions"]["code"] == "malformed_request"
            assert "tokens" in refused["payload"][0]["message"]

    run(scenario)


def test_a_subscription_whose_acl_is_withdrawn_ends_with_the_error_and_the_socket_stays(accent_auth: Any) -> None:
    """What a re-validation does when the token lost `documents.events.read` (`_still_allowed`)."""
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with graphql_socket() as caller:
            await initialised(caller, token)
            await subscribe(caller)
            (listener,) = (member for group in hub().members.values() for member in group)
            assert isinstance(listener, _Listener)
            listener.refuse(PermissionDenied("Subscribing to 'documents' requires the ACL 'documents.events.read'."))
            ended = await caller.receive_json_from(timeout=5)
            assert (ended["type"], ended["id"]) == ("next", "1"), ended
            assert ended["payload"]["errors"][0]["extensions"]["code"] == "permission_denied"
            assert await caller.receive_json_from(timeout=5) == {"id": "1", "type": "complete"}
            await caller.send_json_to({"type": "ping"})
            assert await caller.receive_json_from(timeout=5) == {"type": "pong"}

    run(scenario)


def test_a_handler_that_crashes_closes_the_socket_with_1011_and_releases_it(
    accent_auth: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a message's handling (here: authentication raising what it never should) closes the socket
    at once instead of leaving it open with nobody reading it; its disconnect releases the gauge."""
    token = accent_auth.login("alice")

    async def broken(**_: object) -> None:
        raise RuntimeError("a bug")

    async def scenario() -> None:
        before = open_sockets()
        async with graphql_socket() as alice:
            assert open_sockets() == before + 1
            await alice.send_json_to({"type": "connection_init", "payload": {"token": token}})
            assert await closed_with(alice) == (1011, "internal error")
        await asyncio.sleep(0)
        assert open_sockets() == before

    monkeypatch.setattr("apps.realtime.graphql_socket.authenticate", broken)
    run(scenario)
