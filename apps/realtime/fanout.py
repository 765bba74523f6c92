"""From a domain event to the sockets that may see it: one `group_send` per stream and tenant, after commit.

`fan_out` is an event subscriber (registered by `apps.realtime.event_handlers` for the streams'
event types): it runs in the worker that handles the event, wherever the write happened (a
request, the admin, a shell script, a task). The frame is encoded once here; each consumer only
checks the event's ACL against its token and writes the text.

At most once: the send happens when the handler's transaction commits, and a channel layer that
is down (Redis) loses the notification, counted and logged once per outage by the breaker, never
failing or retrying the event's other subscribers. A client that reconnects reads what it missed
from the REST API (docs/realtime.md).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Coroutine
from typing import Any

import orjson
import structlog
from django.db import transaction

from apps.core.breaker import Breaker
from apps.events.event import Event
from apps.realtime.hub import channel_layer
from apps.realtime.metrics import FANOUT
from apps.realtime.streams import streams_carrying

__all__ = ["fan_out", "remember_server_loop"]

logger = structlog.get_logger(__name__)

SEND_TIMEOUT = 2.0
_breaker = Breaker("channel layer", cool_down=5.0)
_server_loop: asyncio.AbstractEventLoop | None = None
_own: tuple[int, asyncio.AbstractEventLoop] | None = None
_own_lock = threading.Lock()

Message = dict[str, Any]


def remember_server_loop() -> None:
    """Called by a consumer: this process serves sockets on the running loop, so sends go there.

    The in-memory layer's queues belong to that loop; a Redis layer shares the consumers' connections.
    """
    global _server_loop  # noqa: PLW0603 - one ASGI server loop per process
    _server_loop = asyncio.get_running_loop()


def _own_loop() -> asyncio.AbstractEventLoop:
    """A loop of our own in a daemon thread, for processes that serve no socket (workers, scripts)."""
    global _own  # noqa: PLW0603
    with _own_lock:
        if _own is None or _own[0] != os.getpid():  # a forked child has no copy of the thread
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="realtime-fanout", daemon=True).start()
            _own = (os.getpid(), loop)
        return _own[1]


def _loop() -> asyncio.AbstractEventLoop:
    loop = _server_loop
    if loop is not None and loop.is_running():
        return loop
    return _own_loop()


def _messages(event: Event) -> list[tuple[str, Message]]:
    if event.tenant is None:
        return []  # no tenant, no audience: fail closed
    messages = []
    for stream in streams_carrying(event.type):
        frame = orjson.dumps({"type": "event", "stream": stream.name, "event": event.to_message()}).decode()
        group = stream.group(event.tenant)
        message = {"type": "realtime.event", "group": group, "stream": stream.name, "event_id": str(event.id)}
        messages.append((group, {**message, "aggregate_id": event.aggregate_id, "frame": frame}))
    return messages


async def _group_send(messages: list[tuple[str, Message]]) -> None:
    layer = channel_layer()
    for group, message in messages:
        await layer.group_send(group, message)


def _send(messages: list[tuple[str, Message]]) -> None:
    if not _breaker.allows():
        FANOUT.labels("skipped").inc(len(messages))
        return
    loop = _loop()
    coroutine: Coroutine[Any, Any, None] = _group_send(messages)
    try:
        if _running_loop() is loop:
            loop.create_task(coroutine)  # already on the loop (an async caller): do not block it
        else:
            asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=SEND_TIMEOUT)
    except Exception as error:  # the layer (Redis) is down or slow: lose the notification, not the event
        _breaker.record_failure(error)
        FANOUT.labels("failed").inc(len(messages))
        return
    _breaker.record_success()
    FANOUT.labels("sent").inc(len(messages))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def fan_out(event: Event) -> None:
    """Send `event` to its streams' subscribers in its tenant, once the handler's transaction commits."""
    messages = _messages(event)
    if messages:
        transaction.on_commit(functools.partial(_send, messages))
