"""`/ws/v1/events/`: authenticate with an Accent-Auth token, subscribe to streams, receive their events.

The protocol (docs/realtime.md), JSON text frames both ways:

    → {"type": "auth", "token": "...", "tenant": "<uuid>"}   (or the X-Auth-Token / Accent-Tenant headers)
    ← {"type": "authenticated", "expires_at": 1767225600.0, "tenant": "<uuid>"}
    → {"type": "subscribe", "stream": "documents"}           ← {"type": "subscribed", "stream": "documents"}
    ← {"type": "event", "stream": "documents", "event": {...}} (only the events this token may read)
    → {"type": "ping"}                                       ← {"type": "pong"}
    ← {"type": "error", "code": "...", "detail": "..."}      (a bad frame; the socket stays open)
    ← {"type": "closing", "code": 4401, "detail": "..."}     (why, just before the server closes)

The server closes with `4000 + status` of the refusal: 4401 (bad, expired or revoked token, or none
in time), 4403 (the token lacks the stream's ACL, or acts in no tenant), 4400 (a malformed tenant);
1013 when Accent-Auth or the channel layer (Redis) cannot be reached; 4429 when the client reads too slowly.

Every frame to the client goes through one bounded queue and one writer task: a consumer that
does not read fills the queue and is dropped, instead of the process buffering its events forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import orjson
import structlog
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.accent_auth.services import AuthenticatedToken
from apps.core.errors import PermissionDenied, ServiceError
from apps.realtime.fanout import remember_server_loop
from apps.realtime.hub import ChannelLayerUnavailable, hub
from apps.realtime.metrics import CLOSES, FRAMES, OPEN_SOCKETS
from apps.realtime.streams import RecentEvents, Stream, stream_named
from apps.realtime.token_life import CLOSE_TRY_AGAIN_LATER, TokenLife, authenticate, close_code_of

__all__ = ["CLOSE_SLOW_CONSUMER", "CLOSE_TRY_AGAIN_LATER", "EventsConsumer", "close_code_of"]

logger = structlog.get_logger(__name__)

CLOSE_SLOW_CONSUMER = 4429


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class _Closed(Exception):
    """Raised inside the consumer once it decided to close: stop handling the current frame."""


class EventsConsumer(TokenLife, AsyncWebsocketConsumer):
    # No channel of its own on the layer: the process's hub receives each group's events once and
    # hands them to `deliver` (apps.realtime.hub). An alias that is not configured means no layer.
    channel_layer_alias = "realtime-sockets-have-no-channel"
    auth_deadline: asyncio.TimerHandle | None = None
    writer: asyncio.Task[None] | None = None
    watcher: asyncio.Task[None] | None = None
    closer: asyncio.Task[None] | None = None
    _counted = False  # in OPEN_SOCKETS
    _ended = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' consumer, then `_end` whatever happened: a handler that raises (a bug, a channel layer
        that fails unexpectedly) ends the consumer without its `disconnect`, which would leave the gauge
        counting it, the hub holding it in its groups and its token watcher running to the token's expiry."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._end()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its `aclose_old_connections()` per message: a thread hop each time.

        This consumer never touches the database (tokens come from the cache and Accent-Auth), and
        that hop was most of the cost of an event frame (docs/benchmarks.md, Real-time).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # -- lifecycle ------------------------------------------------------------------------------
    async def connect(self) -> None:
        self.closing = False
        self.subscribed: dict[str, Stream] = {}
        await self.accept()
        remember_server_loop()
        OPEN_SOCKETS.inc()
        self._counted = True
        self.recent = RecentEvents()
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.REALTIME_MAX_QUEUED_FRAMES)
        self.writer = asyncio.create_task(self._write())
        self.auth_deadline = asyncio.get_running_loop().call_later(
            settings.REALTIME_AUTH_TIMEOUT, self._schedule_close, 4401, "no token in time"
        )
        token = _header(self.scope, b"x-auth-token")
        if token:
            with contextlib.suppress(_Closed):
                await self._authenticate(token, _header(self.scope, b"accent-tenant"))

    async def disconnect(self, code: int) -> None:
        await self._end()

    async def _end(self) -> None:
        """Release what the socket holds, once; each step whatever the one before it raised."""
        if self._ended:
            return
        self._ended = True
        self.closing = True
        if self._counted:
            OPEN_SOCKETS.dec()
        if self.auth_deadline is not None:
            self.auth_deadline.cancel()
        for task in (self.writer, self.watcher, self.closer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for stream in list(getattr(self, "subscribed", {}).values()):
            try:
                await self._leave(stream)
            except Exception:  # the hub has already let go of this socket; only the layer's unsubscribe failed
                logger.exception("realtime_leave_failed", stream=stream.name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        with contextlib.suppress(_Closed):
            await self._handle(text_data, bytes_data)

    # -- client frames --------------------------------------------------------------------------
    async def _handle(self, text_data: str | None, bytes_data: bytes | None) -> None:
        frame = self._parse(text_data)
        if frame is None:
            return
        handler = {
            "ping": self._on_ping,
            "auth": self._on_auth,
            "subscribe": self._on_subscribe,
            "unsubscribe": self._on_subscribe,
        }.get(frame["type"])
        if handler is None:
            self._error("unknown-type", f"Unknown frame type {frame['type'][:64]!r}.")
        else:
            await handler(frame)

    def _parse(self, text_data: str | None) -> dict[str, Any] | None:
        """The frame as a JSON object with a string `type`, or `None` once an error frame said why not."""
        if text_data is None:
            self._error("invalid-frame", "Frames are JSON text; binary frames are not accepted.")
            return None
        if len(text_data.encode()) > settings.REALTIME_MAX_FRAME_BYTES:
            self._error("frame-too-large", f"Frames are at most {settings.REALTIME_MAX_FRAME_BYTES} bytes.")
            return None
        try:
            frame = orjson.loads(text_data)
        except orjson.JSONDecodeError:
            self._error("invalid-frame", "The frame is not JSON.")
            return None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            self._error("invalid-frame", 'A frame is a JSON object with a string "type".')
            return None
        return frame

    async def _on_ping(self, _: dict[str, Any]) -> None:
        self._emit({"type": "pong"})

    async def _on_auth(self, frame: dict[str, Any]) -> None:
        token, tenant = frame.get("token"), frame.get("tenant")
        if not isinstance(token, str) or not token or not (tenant is None or isinstance(tenant, str)):
            self._error("invalid-frame", 'An auth frame has a string "token" (and maybe a string "tenant").')
        else:
            await self._authenticate(token, tenant)

    async def _on_subscribe(self, frame: dict[str, Any]) -> None:
        if self.identity is None:
            self._error("not-authenticated", 'Send {"type": "auth", "token": ...} first.')
            return
        name = frame.get("stream")
        stream = stream_named(name)
        if stream is None:  # not str(name): a deeply nested list would raise RecursionError
            shown = name[:64] if isinstance(name, str) else f"<a JSON {type(name).__name__}>"
            self._error("unknown-stream", f"No stream named {shown!r}.")
        elif frame["type"] == "subscribe":
            await self._subscribe(stream)
        else:
            await self._unsubscribe(stream)

    async def _authenticate(self, token: str, tenant: str | None) -> None:
        """Authenticate (or re-authenticate with a fresh token); a refusal closes the socket."""
        try:
            identity = await authenticate(token=token, tenant_header=tenant)
        except ServiceError as error:
            await self._refuse(close_code_of(error), error.detail)
            return
        if self.identity is not None and identity.tenant_id != self.identity.tenant_id:
            await self._refuse(4403, "A new token must act in the same tenant as the one it replaces.")
        self.token, self.tenant_header = token, tenant
        self._become(identity)
        if self.auth_deadline is not None:
            self.auth_deadline.cancel()
        if not self.closing:  # (re)start: sleep to this token's expiry; drop a revalidation of the old one
            if self.watcher is not None:
                self.watcher.cancel()
            self.watcher = asyncio.create_task(self._watch_token())
        self._emit({"type": "authenticated", "expires_at": identity.info.expires_at, "tenant": _hex(identity)})
        for stream in list(self.subscribed.values()):  # a new token may have lost an ACL
            await self._check_subscription(stream)

    async def _subscribe(self, stream: Stream) -> None:
        await self._check_subscription(stream)
        if stream.name not in self.subscribed:
            assert self.identity is not None
            assert self.identity.tenant_id is not None  # checked above
            try:
                await hub().join(stream.group(self.identity.tenant_id), self)
            except ChannelLayerUnavailable:
                await self._refuse(CLOSE_TRY_AGAIN_LATER, "The event channel is unavailable; try again later.")
            self.subscribed[stream.name] = stream
        self._emit({"type": "subscribed", "stream": stream.name})

    async def _check_subscription(self, stream: Stream) -> None:
        assert self.identity is not None  # authenticated first
        assert self.access is not None
        try:
            stream.demand_subscribe(self.identity.tenant_id, self.access)
        except PermissionDenied as refused:
            await self._refuse(close_code_of(refused), refused.detail)

    async def _unsubscribe(self, stream: Stream) -> None:
        if stream.name in self.subscribed:
            await self._leave(stream)
        self._emit({"type": "unsubscribed", "stream": stream.name})

    async def _leave(self, stream: Stream) -> None:
        self.subscribed.pop(stream.name, None)
        if self.identity is not None and self.identity.tenant_id is not None:
            await hub().leave(stream.group(self.identity.tenant_id), self)

    # -- events from the channel layer (apps.realtime.fanout, through apps.realtime.hub) ----------
    def deliver(self, message: dict[str, Any]) -> None:
        """A `realtime.event` of a group this socket joined: queue its frame if this token may read the event."""
        if message.get("type") != "realtime.event":  # another sender's message on the group: not ours
            return
        stream = self.subscribed.get(str(message["stream"]))
        if self.closing or stream is None or self.access is None:
            return
        event_id = f"{stream.name}:{message['event_id']}"  # one event may be carried by two streams
        if not self.recent.first_sight(event_id):
            return
        if stream.may_receive(self.access, str(message["aggregate_id"])):
            with contextlib.suppress(_Closed):
                self._emit_text(str(message["frame"]))
                FRAMES.inc()

    # -- the token's life (apps.realtime.token_life) ---------------------------------------------
    async def _still_allowed(self) -> bool:
        try:
            for stream in list(self.subscribed.values()):  # its ACL may have shrunk
                await self._check_subscription(stream)
        except _Closed:
            return False
        return True

    # -- writing --------------------------------------------------------------------------------
    def _emit(self, frame: dict[str, Any]) -> None:
        self._emit_text(orjson.dumps(frame).decode())

    def _emit_text(self, text: str) -> None:
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self._schedule_close(CLOSE_SLOW_CONSUMER, "The client reads too slowly; frames were piling up.")
            raise _Closed from None

    def _error(self, code: str, detail: str) -> None:
        self._emit({"type": "error", "code": code, "detail": detail})

    async def _write(self) -> None:
        while True:
            text = await self.outbox.get()
            await self.send(text_data=text)

    def _schedule_close(self, code: int, reason: str) -> None:
        if not self.closing:
            self.closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _refuse(self, code: int, reason: str) -> None:
        """Close with `code` and stop handling the current frame."""
        await self._close(code, reason)
        raise _Closed

    async def _close(self, code: int, reason: str) -> None:
        """Say why (the `closing` frame), then close with `code`.

        The writer first flushes what is queued, briefly; a slow consumer's backlog is dropped instead.
        Then the `closing` frame is sent by this task, just before the close frame: the server writes
        neither while the client's buffers are full (uvicorn waits for the transport's room before each
        frame), so the `closing` frame delays the close by nothing, and reaches a slow client that reads
        again as its last text frame.
        """
        if self.closing:
            return
        self.closing = True
        CLOSES.labels(str(code)).inc()
        logger.info("realtime_close", code=code, reason=reason)
        if code != CLOSE_SLOW_CONSUMER:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), timeout=1.0)
        if self.writer is not None:
            self.writer.cancel()
        closing = orjson.dumps({"type": "closing", "code": code, "detail": reason}).decode()
        with contextlib.suppress(OSError):  # the client left meanwhile: its disconnect still cleans up
            await self.send(text_data=closing)
            await super().close(code=code, reason=reason[:120])

    async def _drained(self) -> None:
        while not self.outbox.empty():
            await asyncio.sleep(0.005)


def _hex(identity: AuthenticatedToken) -> str | None:
    return str(identity.tenant_id) if identity.tenant_id is not None else None
