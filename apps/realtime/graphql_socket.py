"""`/ws/graphql/`: GraphQL subscriptions over graphql-transport-ws, on the events socket's machinery (docs/graphql.md).

Strawberry's Channels consumer speaks the protocol (`connection_init` / `connection_ack`,
`subscribe` / `next` / `error` / `complete`, `ping` / `pong`, and its close codes); this socket
adds what `/ws/v1/events/` does, by the same code:

- the token comes in `connection_init`'s payload (`{"token": ..., "tenant": ...}`), checked by
  `apps.realtime.token_life.authenticate` (REST's check, cached), then watched to its expiry and
  re-validated (revocation) by `TokenLife`;
- a subscription resolver calls `info.context.listen(stream)`: `Stream.demand_subscribe` refuses a
  token without the stream's ACL (an `error` for that subscription, the socket stays), and the
  listener joins the process's hub (one channel-layer subscription per group and process), keeps
  the events `Stream.may_receive` lets this token read, once each (`RecentEvents`);
- each subscription's events wait in a bounded queue: a client that reads too slowly is closed
  with 1008 instead of growing the process's memory.

Close codes: the protocol's where it defines one (4400 a malformed message, 4401 a subscribe
before `connection_ack`, 4403 a refused token, 4406 no graphql-transport-ws subprotocol, 4408 no
`connection_init` in time, 4409 a duplicate operation id, 4429 a second `connection_init`); the
events socket's for the rest (4401 an expired or revoked token, 4403 its ACL gone, 1013
Accent-Auth unreachable), and 1008 (RFC 6455 policy violation) for a slow reader: the protocol's
4429 means something else.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import orjson
import structlog
from django.conf import settings
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

from apps.core.errors import DependencyUnavailable, InvalidInput, PermissionDenied, ServiceError
from apps.realtime.fanout import remember_server_loop
from apps.realtime.hub import ChannelLayerUnavailable, hub
from apps.realtime.metrics import CLOSES, FRAMES, OPEN_SOCKETS
from apps.realtime.streams import RecentEvents, Stream
from apps.realtime.token_life import TokenLife, authenticate, close_code_of

__all__ = ["CLOSE_SLOW_SUBSCRIBER", "GraphQLSocket", "SocketCaller"]

logger = structlog.get_logger(__name__)

CLOSE_SLOW_SUBSCRIBER = 1008  # RFC 6455 policy violation; graphql-transport-ws's 4429 is "too many connection_init"
_FORBIDDEN = 4403  # graphql-transport-ws: the server refuses the connection (`connection_init`)
_BAD_REQUEST = 4400  # graphql-transport-ws: a malformed message
_INTERNAL_ERROR = 1011  # RFC 6455: the server met an unexpected condition


def connection_refusal_code(error: ServiceError) -> int:
    """A refused `connection_init`: the protocol's 4403 for a bad token, 4400 a bad tenant, else the events socket's."""
    code = close_code_of(error)
    if code in (4401, 4403):
        return _FORBIDDEN
    return code


class _Listener:
    """One subscription's events of one stream: a hub member with a bounded queue (`deliver` is the hub's call)."""

    def __init__(self, socket: GraphQLSocket, stream: Stream) -> None:
        self.socket = socket
        self.stream = stream
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=settings.REALTIME_MAX_QUEUED_FRAMES)
        self.recent = RecentEvents()
        self.refused: PermissionDenied | None = None

    def deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "realtime.event" or message.get("stream") != self.stream.name:
            return
        access = self.socket.access
        if self.socket.closing or access is None or not self.recent.first_sight(str(message["event_id"])):
            return
        if not self.stream.may_receive(access, str(message["aggregate_id"])):
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.socket.schedule_close(CLOSE_SLOW_SUBSCRIBER, "The client reads too slowly; events were piling up.")
            return
        FRAMES.inc()

    def refuse(self, error: PermissionDenied) -> None:
        """End the subscription with `error` (its token lost the ACL)."""
        self.refused = error
        with contextlib.suppress(asyncio.QueueFull):  # full: the socket is being closed as too slow anyway
            self.queue.put_nowait(None)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        identity = self.socket.identity
        assert identity is not None
        assert identity.tenant_id is not None
        group = self.stream.group(identity.tenant_id)
        try:
            await hub().join(group, self)
        except ChannelLayerUnavailable:  # the subscription's error (503), as the events socket's 1013
            raise DependencyUnavailable("The event channel is unavailable; try again later.") from None
        self.socket.listeners.add(self)
        try:
            while True:
                message = await self.queue.get()
                if message is None or self.refused is not None:
                    raise self.refused or PermissionDenied()
                event: dict[str, Any] = orjson.loads(str(message["frame"]))["event"]
                yield event
        finally:
            self.socket.listeners.discard(self)
            await hub().leave(group, self)


class SocketCaller:
    """`info.context` of an operation on the GraphQL socket: its token, and the streams it may listen to."""

    def __init__(self, socket: GraphQLSocket) -> None:
        self.socket = socket
        self.connection_params: dict[str, object] = {}

    def demand(self, required_acl: str | None, **values: object) -> None:
        """A query or mutation on the socket: refused; HTTP serves them (their checks and transactions are there)."""
        raise InvalidInput("Only subscriptions are served over the socket; POST queries and mutations to /graphql/.")

    def listen(self, stream: Stream) -> AsyncIterator[dict[str, Any]]:
        """The events of `stream` this token may read, as the events socket sends them; refused without its ACL."""
        socket = self.socket
        assert socket.identity is not None
        assert socket.access is not None
        stream.demand_subscribe(socket.identity.tenant_id, socket.access)
        return _Listener(socket, stream).events()


def _malformed(message: object) -> str | None:
    """Why `message` is not a graphql-transport-ws message strawberry can handle (None: it is one).

    Strawberry reads the fields it needs without checking their types: a list, or a `subscribe`
    whose payload is a string, would end its handler with a TypeError instead of the protocol's 4400.
    """
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return 'A message is a JSON object with a string "type".'
    kind = message["type"]
    if kind in ("subscribe", "complete") and not isinstance(message.get("id"), str):
        return f'A {kind} message has a string "id".'
    if kind == "subscribe":
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return 'A subscribe message\'s "payload" is an object with a string "query".'
        if not isinstance(payload.get("variables") or {}, dict):
            return '"variables" is an object.'
        if not isinstance(payload.get("operationName") or "", str):
            return '"operationName" is a string.'
    return None


class _ProtocolHandler(BaseGraphQLTransportWSHandler[SocketCaller, None]):
    async def handle_message(self, message: Message) -> None:
        reason = _malformed(message)
        try:
            if reason is not None:
                await self.handle_invalid_message(reason)
            else:
                await super().handle_message(message)
        except Exception:
            # A bug (strawberry would end its protocol loop and leave the socket open with no one
            # reading it): the client is told at once, and its disconnect releases the rest.
            logger.exception("realtime_handler_failed", protocol=GRAPHQL_TRANSPORT_WS_PROTOCOL)
            await self.websocket.close(_INTERNAL_ERROR, "internal error")


class GraphQLSocket(TokenLife, GraphQLWSConsumer[SocketCaller, None]):
    """Strawberry's graphql-transport-ws consumer, authenticated and bounded as `EventsConsumer` is."""

    # No channel of its own on the layer: events come through the process's hub (apps.realtime.hub).
    channel_layer_alias = "realtime-sockets-have-no-channel"
    graphql_transport_ws_handler_class = _ProtocolHandler

    def __init__(self, schema: BaseSchema) -> None:
        super().__init__(
            schema=schema,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=dt.timedelta(seconds=settings.REALTIME_AUTH_TIMEOUT),
            max_subscriptions_per_connection=settings.GRAPHQL_MAX_SUBSCRIPTIONS,
        )
        self.closing = False
        self.close_sent = False
        self.listeners: set[_Listener] = set()
        self.watcher: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None
        self.caller = SocketCaller(self)

    # -- lifecycle ------------------------------------------------------------------------------
    async def connect(self) -> None:
        remember_server_loop()
        OPEN_SOCKETS.inc()
        await super().connect()

    async def disconnect(self, code: int) -> None:
        OPEN_SOCKETS.dec()
        self.closing = True
        if self.watcher is not None:
            self.watcher.cancel()
        await super().disconnect(code)  # strawberry ends the operations: each listener leaves its group

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        if self.message_queue.qsize() >= settings.REALTIME_MAX_QUEUED_FRAMES:  # sends faster than it reads
            self.schedule_close(CLOSE_SLOW_SUBSCRIBER, "The client sends faster than it reads the answers.")
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data)

    async def get_context(self, request: Any, response: Any) -> SocketCaller:
        return self.caller

    # -- connection_init ------------------------------------------------------------------------
    async def on_ws_connect(self, context: SocketCaller) -> dict[str, object]:
        params = context.connection_params
        token, tenant = params.get("token"), params.get("tenant")
        if not isinstance(token, str) or not token:
            await self.close(_FORBIDDEN, 'connection_init\'s payload has no "token".')
            raise ConnectionRejectionError
        if not (tenant is None or isinstance(tenant, str)):
            await self.close(_BAD_REQUEST, 'connection_init\'s "tenant" is a tenant UUID.')
            raise ConnectionRejectionError
        try:
            identity = await authenticate(token=token, tenant_header=tenant)
        except ServiceError as error:
            await self.close(connection_refusal_code(error), error.detail)
            raise ConnectionRejectionError from None
        self.token, self.tenant_header = token, tenant
        self._become(identity)
        self.watcher = asyncio.create_task(self._watch_token())
        hex_tenant = str(identity.tenant_id) if identity.tenant_id is not None else None
        return {"expires_at": identity.info.expires_at, "tenant": hex_tenant}

    # -- the token's life (apps.realtime.token_life) ---------------------------------------------
    async def _still_allowed(self) -> bool:
        assert self.identity is not None
        assert self.access is not None
        for listener in list(self.listeners):
            try:
                listener.stream.demand_subscribe(self.identity.tenant_id, self.access)
            except PermissionDenied as refused:
                listener.refuse(refused)
        return True

    async def _close(self, code: int, reason: str) -> None:
        await self.close(code, reason)

    # -- sending and closing ----------------------------------------------------------------------
    async def send(  # type: ignore[override]  # the signature of Channels' AsyncWebsocketConsumer.send (untyped)
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """Strawberry's every send: none after the close (ASGI forbids it), none to a client that left."""
        if self.close_sent:
            return
        with contextlib.suppress(OSError):  # the client left: its disconnect ends the operations
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    def schedule_close(self, code: int, reason: str) -> None:
        if not self.closing:
            self.closing = True
            self.closer = asyncio.get_running_loop().create_task(self.close(code, reason, force=True))

    async def close(self, code: int | bool | None = None, reason: str | None = None, *, force: bool = False) -> None:
        """Close once (strawberry closes again after a refused `connection_init`), counted and logged."""
        if self.close_sent or (self.closing and not force):
            return
        self.closing = self.close_sent = True
        CLOSES.labels(str(code)).inc()
        logger.info("realtime_close", code=code, reason=reason, protocol=GRAPHQL_TRANSPORT_WS_PROTOCOL)
        with contextlib.suppress(OSError):  # the client left meanwhile: its disconnect still cleans up
            await super().close(code=code, reason=(reason or "")[:120])
