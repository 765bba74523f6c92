"""`/ws/v1/events/` in process (Channels' communicator on the ASGI application): the protocol, auth, ACLs, tenants.

The channel layer is the configured one: in memory on the embedded default, Redis pub/sub when
`REDIS_URL` is set. The real server and the outbox path are in test_server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.accent_auth.services import token_revoke
from apps.core.metric_names import metric_name
from apps.core.uuid7 import uuid7
from apps.events.event import Event
from apps.realtime import fanout
from apps.realtime.consumer import CLOSE_TRY_AGAIN_LATER, EventsConsumer
from apps.realtime.hub import channel_layer, hub
from project.asgi import application
from tests.realtime.communicator import WebsocketCommunicator

ACME = uuid.UUID("00000000-0000-4000-8000-00000000000a")
GLOBEX = uuid.UUID("00000000-0000-4000-8000-00000000000b")
PATH = "/ws/v1/events/"
# fan_out sends when the caller's transaction commits: from a worker thread, outside any, at once.
pytestmark = pytest.mark.django_db(transaction=True)
QUIET = 0.3  # seconds a socket listens to prove that nothing arrives


def document_event(tenant: uuid.UUID | None, *, aggregate_id: str | None = None, kind: str = "created") -> Event:
    return Event(
        id=uuid7(),
        type=f"document.{kind}",
        version=1,
        occurred_at=datetime.now(UTC),
        aggregate="document",
        aggregate_id=aggregate_id or str(uuid7()),
        payload={"title": "Plan"},
        actor="alice",
        tenant=tenant,
    )


@pytest.fixture(autouse=True)
def _fresh_breaker() -> Iterator[None]:
    fanout._breaker.reset()
    yield
    fanout._breaker.reset()


@contextlib.asynccontextmanager
async def socket(
    headers: dict[str, str] | None = None, *, max_pending: int = 0
) -> AsyncIterator[WebsocketCommunicator]:
    encoded = [(key.lower().encode(), value.encode()) for key, value in (headers or {}).items()]
    communicator = WebsocketCommunicator(application, PATH, headers=encoded, max_pending=max_pending)
    connected, _ = await communicator.connect()
    assert connected
    try:
        yield communicator
    finally:
        await communicator.disconnect()


async def subscribed(communicator: WebsocketCommunicator, stream: str = "documents") -> None:
    await communicator.send_json_to({"type": "subscribe", "stream": stream})
    assert await communicator.receive_json_from(timeout=5) == {"type": "subscribed", "stream": stream}


async def authenticated(communicator: WebsocketCommunicator, token: str) -> dict[str, Any]:
    await communicator.send_json_to({"type": "auth", "token": token})
    frame: dict[str, Any] = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "authenticated", frame
    return frame


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 5) -> tuple[int, dict[str, Any]]:
    """The `closing` frame's code and body, then the close code itself (they must agree)."""
    closing = await communicator.receive_json_from(timeout=timeout)
    assert closing["type"] == "closing", closing
    output = await communicator.receive_output(timeout=timeout)
    assert output["type"] == "websocket.close"
    assert output["code"] == closing["code"]
    return int(output["code"]), closing


def _fan_out_in_a_worker_thread(event: Event) -> None:
    try:
        fanout.fan_out(event)
    finally:
        connections.close_all()  # this thread's connection, or the test database cannot be dropped


async def fan_out_now(event: Event) -> None:
    """What a worker's handler does, from a worker thread (outside a transaction: sent at once)."""
    await sync_to_async(_fan_out_in_a_worker_thread, thread_sensitive=False)(event)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=30))


# -- authentication ----------------------------------------------------------------------------


def test_the_header_token_authenticates_and_a_subscriber_receives_its_tenants_event(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as alice:
            hello = await alice.receive_json_from(timeout=5)
            assert hello["type"] == "authenticated"
            assert hello["tenant"] == str(ACME)
            await subscribed(alice)
            event = document_event(ACME)
            await fan_out_now(event)
            frame = await alice.receive_json_from(timeout=5)
            assert frame == {"type": "event", "stream": "documents", "event": event.to_message()}

    run(scenario)


def test_the_first_message_authenticates_too(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket() as alice:
            await authenticated(alice, token)
            await subscribed(alice)

    run(scenario)


@pytest.mark.parametrize("where", ["header", "message"])
def test_an_unknown_token_is_closed_with_4401(accent_auth: Any, where: str) -> None:
    async def scenario() -> None:
        headers = {"X-Auth-Token": "not-a-token"} if where == "header" else None
        async with socket(headers) as caller:
            if where == "message":
                await caller.send_json_to({"type": "auth", "token": "not-a-token"})
            code, closing = await closed_with(caller)
            assert code == 4401
            assert "unknown" in closing["detail"]

    run(scenario)


def test_a_socket_that_never_authenticates_is_closed_with_4401(accent_auth: Any, settings: SettingsWrapper) -> None:
    settings.REALTIME_AUTH_TIMEOUT = 0.2

    async def scenario() -> None:
        async with socket() as caller:
            await caller.send_json_to({"type": "ping"})
            assert await caller.receive_json_from(timeout=5) == {"type": "pong"}
            code, _ = await closed_with(caller)
            assert code == 4401

    run(scenario)


def test_accent_auth_down_closes_with_try_again_later(accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    accent_auth.set_unavailable(True)

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            code, _ = await closed_with(caller)
            assert code == CLOSE_TRY_AGAIN_LATER

    run(scenario)


@pytest.mark.usefixtures("channel_layer_down")
def test_a_channel_layer_that_is_down_closes_a_subscribe_with_try_again_later(accent_auth: Any) -> None:
    """Redis refusing connections: the subscribe cannot be served, so the client is told to come back (1013)."""
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            assert (await caller.receive_json_from(timeout=5))["type"] == "authenticated"
            await caller.send_json_to({"type": "subscribe", "stream": "documents"})
            code, closing = await closed_with(caller)
            assert code == CLOSE_TRY_AGAIN_LATER
            assert "event channel is unavailable" in closing["detail"]

    run(scenario)


def test_a_malformed_tenant_is_closed_with_4400(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token, "Accent-Tenant": "acme"}) as caller:
            code, _ = await closed_with(caller)
            assert code == 4400

    run(scenario)


# -- ACLs and tenants ----------------------------------------------------------------------------


@contextlib.contextmanager
def acl_of(accent_auth: Any, username: str, acl: list[str]) -> Iterator[None]:
    """`username`'s tokens carry `acl` in the block (the stand-in's world is shared by the session)."""
    from devtools.accent_auth_standin import DEFAULT_CONFIG

    original = next(user.acl for user in DEFAULT_CONFIG.users if user.username == username)
    accent_auth.set_acl(username, acl)
    try:
        yield
    finally:
        accent_auth.set_acl(username, list(original))


def test_subscribing_without_the_streams_acl_is_closed_with_4403(accent_auth: Any) -> None:
    with acl_of(accent_auth, "alice", ["documents.read", "documents.*.read", "!documents.events.read"]):
        token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            await caller.send_json_to({"type": "subscribe", "stream": "documents"})
            code, closing = await closed_with(caller)
            assert code == 4403
            assert "documents.events.read" in closing["detail"]

    run(scenario)


def test_each_tenant_receives_only_its_own_events(accent_auth: Any) -> None:
    alice_token, bob_token = accent_auth.login("alice"), accent_auth.login("bob")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": alice_token}) as alice, socket({"X-Auth-Token": bob_token}) as bob:
            for caller in (alice, bob):
                await caller.receive_json_from(timeout=5)
                await subscribed(caller)
            acme_event, globex_event = document_event(ACME), document_event(GLOBEX)
            await fan_out_now(acme_event)
            await fan_out_now(globex_event)
            assert (await alice.receive_json_from(timeout=5))["event"]["id"] == str(acme_event.id)
            assert (await bob.receive_json_from(timeout=5))["event"]["id"] == str(globex_event.id)
            assert await alice.receive_nothing(QUIET)
            assert await bob.receive_nothing(QUIET)

    run(scenario)


def test_an_event_needs_the_read_acl_of_its_document(accent_auth: Any) -> None:
    allowed = str(uuid7())
    acl = ["documents.events.read", f"documents.{allowed}.read"]
    with acl_of(accent_auth, "alice", acl):
        token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            await subscribed(caller)
            await fan_out_now(document_event(ACME))  # another document: not readable
            readable = document_event(ACME, aggregate_id=allowed)
            await fan_out_now(readable)
            assert (await caller.receive_json_from(timeout=5))["event"]["id"] == str(readable.id)
            assert await caller.receive_nothing(QUIET)

    run(scenario)


def test_an_event_without_a_tenant_reaches_no_one_and_a_redelivery_is_written_once(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            await subscribed(caller)
            await fan_out_now(document_event(None))
            event = document_event(ACME, kind="updated")
            await fan_out_now(event)
            await fan_out_now(event)  # at-least-once delivery upstream: the same event again
            assert (await caller.receive_json_from(timeout=5))["event"]["id"] == str(event.id)
            assert await caller.receive_nothing(QUIET)

    run(scenario)


def test_an_unsubscribed_socket_receives_nothing_more(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            await subscribed(caller)
            await caller.send_json_to({"type": "unsubscribe", "stream": "documents"})
            assert await caller.receive_json_from(timeout=5) == {"type": "unsubscribed", "stream": "documents"}
            await fan_out_now(document_event(ACME))
            assert await caller.receive_nothing(QUIET)

    run(scenario)


# -- hostile and malformed frames ----------------------------------------------------------------


def test_malformed_frames_get_error_frames_and_the_socket_stays_open(
    accent_auth: Any, settings: SettingsWrapper
) -> None:
    settings.REALTIME_MAX_FRAME_BYTES = 100
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket() as caller:
            sends: list[tuple[str, Any]] = [
                ("bytes", b"\x00\x01"),
                ("text", "{not json"),
                ("text", "[1, 2]"),
                ("text", '{"type": 7}'),
                ("text", '{"type": "dance"}'),
                ("text", '{"type": "subscribe", "stream": "documents"}'),  # before auth
                ("text", '{"type": "auth"}'),
                ("text", '{"type": "auth", "token": "x", "tenant": 5}'),
                ("text", '{"type": "ping", "padding": "' + "x" * 200 + '"}'),
            ]
            codes = []
            for kind, data in sends:
                if kind == "bytes":
                    await caller.send_to(bytes_data=data)
                else:
                    await caller.send_to(text_data=data)
                frame = await caller.receive_json_from(timeout=5)
                assert frame["type"] == "error", frame
                codes.append(frame["code"])
            assert codes == [
                "invalid-frame",
                "invalid-frame",
                "invalid-frame",
                "invalid-frame",
                "unknown-type",
                "not-authenticated",
                "invalid-frame",
                "invalid-frame",
                "frame-too-large",
            ]
            await authenticated(caller, token)
            await caller.send_json_to({"type": "subscribe", "stream": "nope"})
            assert (await caller.receive_json_from(timeout=5))["code"] == "unknown-stream"
            await subscribed(caller)

    run(scenario)


def test_an_unknown_path_is_closed_with_4404() -> None:
    async def scenario() -> None:
        communicator = WebsocketCommunicator(application, "/ws/v2/nothing/")
        connected, _ = await communicator.connect()
        assert connected
        output = await communicator.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": 4404, "reason": output["reason"]}

    run(scenario)


# -- the token's life ------------------------------------------------------------------------------


def test_a_socket_is_closed_when_its_token_expires(accent_auth: Any) -> None:
    token = accent_auth.login("alice", expiration=2)

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            hello = await caller.receive_json_from(timeout=5)
            await subscribed(caller)
            code, closing = await closed_with(caller, timeout=10)
            assert code == 4401
            assert "expired" in closing["detail"]
            assert hello["expires_at"] <= datetime.now(UTC).timestamp() + 0.5

    run(scenario)


def test_a_revoked_token_closes_its_socket_at_the_next_revalidation(
    accent_auth: Any, settings: SettingsWrapper
) -> None:
    settings.REALTIME_REVALIDATE_SECONDS = 0.3
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            await subscribed(caller)
            assert await caller.receive_nothing(0.5), "a valid token is revalidated silently"
            await sync_to_async(token_revoke, thread_sensitive=False)(token=token)
            code, _ = await closed_with(caller)
            assert code == 4401

    run(scenario)


def test_re_authenticating_with_a_token_that_lost_the_acl_closes_with_4403(accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    fresh = {}

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            await subscribed(caller)
            with acl_of(accent_auth, "alice", ["documents.read"]):
                fresh["token"] = await sync_to_async(accent_auth.login, thread_sensitive=False)("alice")
                await authenticated(caller, fresh["token"])  # re-authentication with the narrower token
            code, _ = await closed_with(caller)
            assert code == 4403

    run(scenario)


def drops() -> float:
    return REGISTRY.get_sample_value(metric_name("realtime_closes_total"), {"code": "4429"}) or 0.0


def test_a_client_that_stops_reading_is_dropped_with_4429_instead_of_queueing_forever(
    accent_auth: Any, settings: SettingsWrapper
) -> None:
    settings.REALTIME_MAX_QUEUED_FRAMES = 4
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}, max_pending=2) as slow:
            await slow.receive_json_from(timeout=5)
            await subscribed(slow)
            closes_before = drops()
            for _ in range(20):  # the client reads nothing meanwhile: its transport holds 2, the queue 4
                await fan_out_now(document_event(ACME))
            for _ in range(200):  # through Redis pub/sub the events reach the consumer a little later
                if drops() > closes_before:
                    break
                await asyncio.sleep(0.05)
            received: list[dict[str, Any]] = []
            while (output := await slow.receive_output(timeout=5))["type"] == "websocket.send":
                received.append(orjson.loads(output["text"]))
            assert output["code"] == 4429
            assert received[-1]["type"] == "closing", "told why first, as every refusal"
            assert received[-1]["code"] == 4429
            events = [frame for frame in received if frame["type"] == "event"]
            assert len(events) <= 2 + 4 + 1, "the frames beyond the bound were dropped with the socket"

    run(scenario)


def test_a_channel_layer_that_is_down_loses_the_notification_not_the_event(settings: SettingsWrapper) -> None:
    """Redis unreachable when the worker's handler commits: fan_out neither raises nor blocks past its timeout."""
    from tests.processes import free_port

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{free_port()}/0", "socket_connect_timeout": 0.2}]},
        }
    }

    def failed() -> float:
        return REGISTRY.get_sample_value(metric_name("realtime_fanout_total"), {"outcome": "failed"}) or 0.0

    def skipped() -> float:
        return REGISTRY.get_sample_value(metric_name("realtime_fanout_total"), {"outcome": "skipped"}) or 0.0

    before_failed, before_skipped = failed(), skipped()
    fanout._send(fanout._messages(document_event(ACME)))  # nothing listens on that port
    assert failed() == before_failed + 1
    assert fanout._breaker.is_open
    fanout._send(fanout._messages(document_event(ACME)))  # backing off: not even tried
    assert skipped() == before_skipped + 1


# -- hostile clients and odd timing (review of issue 17) -------------------------------------------


def test_a_deeply_nested_stream_name_gets_an_error_frame_not_a_crash(accent_auth: Any) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            nested = "[" * 1000 + "]" * 1000  # within REALTIME_MAX_FRAME_BYTES and orjson's depth limit
            await caller.send_to(text_data='{"type": "subscribe", "stream": ' + nested + "}")
            frame = await caller.receive_json_from(timeout=5)
            assert frame["type"] == "error"
            assert frame["code"] == "unknown-stream"
            await subscribed(caller)

    run(scenario)


def open_sockets() -> float:
    return REGISTRY.get_sample_value(metric_name("realtime_open_sockets")) or 0.0


def test_a_refusal_for_a_client_that_just_left_still_ends_the_socket_cleanly(accent_auth: Any) -> None:
    async def scenario() -> None:
        before = open_sockets()
        communicator = WebsocketCommunicator(application, PATH)
        assert (await communicator.connect())[0]
        assert open_sockets() == before + 1
        await communicator.send_json_to({"type": "auth", "token": "not-a-token"})  # refused once it has left
        await communicator.disconnect()
        communicator.task.result()  # the application ended without raising
        assert open_sockets() == before

    run(scenario)


@pytest.fixture
def second_documents_stream() -> Iterator[str]:
    from apps.documents import acl
    from apps.realtime import Stream, declare_stream
    from apps.realtime.streams import _streams

    declare_stream(Stream(name="documents-copy", events=("document.*",), subscribe_acl=acl.EVENTS, event_acl=acl.READ))
    try:
        yield "documents-copy"
    finally:
        _streams.pop("documents-copy")


def test_an_event_carried_by_two_streams_reaches_a_socket_on_both(
    accent_auth: Any, second_documents_stream: str
) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            await subscribed(caller)
            await subscribed(caller, second_documents_stream)
            event = document_event(ACME)
            await fan_out_now(event)
            frames = [await caller.receive_json_from(timeout=5) for _ in range(2)]
            assert sorted(frame["stream"] for frame in frames) == ["documents", second_documents_stream]
            assert {frame["event"]["id"] for frame in frames} == {str(event.id)}
            await fan_out_now(event)  # a redelivery is still written once per stream
            assert await caller.receive_nothing(QUIET)

    run(scenario)


def test_another_message_type_on_a_streams_group_is_ignored_quietly(
    accent_auth: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = accent_auth.login("alice")

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            await subscribed(caller)
            with caplog.at_level(logging.ERROR, logger="apps.realtime.hub"):
                await channel_layer().group_send(f"documents.{ACME.hex}", {"type": "cache.flush", "group": "x"})
                await channel_layer().group_send(
                    f"documents.{ACME.hex}", {"type": "cache.flush", "group": f"documents.{ACME.hex}"}
                )
                event = document_event(ACME)
                await fan_out_now(event)
                assert (await caller.receive_json_from(timeout=5))["event"]["id"] == str(event.id)
            assert [record.getMessage() for record in caplog.records] == []

    run(scenario)


def test_re_authenticating_with_a_shorter_lived_token_closes_at_its_expiry(accent_auth: Any) -> None:
    token, short = accent_auth.login("alice"), accent_auth.login("alice", expiration=2)

    async def scenario() -> None:
        async with socket({"X-Auth-Token": token}) as caller:
            await caller.receive_json_from(timeout=5)
            await subscribed(caller)
            await authenticated(caller, short)  # the socket now lives on this token (REALTIME_REVALIDATE_SECONDS: 30)
            code, closing = await closed_with(caller, timeout=10)
            assert code == 4401
            assert "expired" in closing["detail"]

    run(scenario)


def test_a_handler_that_crashes_still_releases_the_socket(
    accent_auth: Any, settings: SettingsWrapper, second_documents_stream: str
) -> None:
    """A subscribe that raises (here: no channel layer configured, which the hub does not expect) ends the
    consumer without its `disconnect`; the gauge, the hub's groups and the token watcher let go of it anyway."""
    token = accent_auth.login("alice")

    async def scenario() -> None:
        before = open_sockets()
        communicator = WebsocketCommunicator(application, PATH, headers=[(b"x-auth-token", token.encode())])
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from(timeout=5))["type"] == "authenticated"
        await subscribed(communicator)
        [consumer] = hub().members[f"documents.{ACME.hex}"]
        assert open_sockets() == before + 1
        settings.CHANNEL_LAYERS = {}  # the next join finds no layer: ImproperlyConfigured, not a Redis error
        await communicator.send_json_to({"type": "subscribe", "stream": second_documents_stream})
        with pytest.raises(ImproperlyConfigured):  # what uvicorn logs before closing with 1011
            await communicator.receive_output(timeout=5)
        assert open_sockets() == before
        assert all(consumer not in members for members in hub().members.values()), "out of every group"
        await asyncio.sleep(0)  # let the cancellations land
        assert isinstance(consumer, EventsConsumer)
        assert consumer.watcher is not None
        assert consumer.watcher.cancelled(), "no token watch running to the token's expiry"
        assert consumer.writer is not None
        assert consumer.writer.cancelled()

    run(scenario)
