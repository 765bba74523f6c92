"""One channel-layer subscription per group and process: the process's sockets in a group share it.

Channels' usual pattern gives every socket a channel of its own and adds it to the group, so an
event to a group of 1,000 sockets is 1,000 queued copies, each decoded and dispatched by its own
consumer task. Here the process's hub is the group's one member on the layer: it receives each
message once and hands it to its local members (`deliver`, synchronous and cheap: an ACL check
and a bounded queue put). Fan-out across processes is the layer's (Redis pub/sub); within a
process it is a loop over a set.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Protocol

import structlog
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError

__all__ = ["ChannelLayerUnavailable", "Member", "channel_layer", "hub"]

logger = structlog.get_logger(__name__)


def channel_layer() -> BaseChannelLayer:
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured("CHANNEL_LAYERS has no default layer (project/backends.py sets one)")
    return layer


class ChannelLayerUnavailable(Exception):
    """The channel layer (Redis) refused or did not answer a subscription: the socket should retry later."""


class Member(Protocol):
    def deliver(self, message: dict[str, Any]) -> None: ...


class _Hub:
    def __init__(self) -> None:
        self.members: dict[str, set[Member]] = {}
        self.channel: str | None = None
        self.receiver: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def join(self, group: str, member: Member) -> None:
        """Add `member` to `group`, subscribing the process to it first if it is the group's first member here.

        Raises `ChannelLayerUnavailable` when the layer cannot subscribe (Redis down): nothing is joined.
        """
        try:
            await self._join(group, member)
        except (RedisError, OSError) as error:
            logger.warning("realtime_channel_layer_unavailable", error=f"{type(error).__name__}: {error}")
            raise ChannelLayerUnavailable(str(error)) from error

    async def _join(self, group: str, member: Member) -> None:
        async with self.lock:
            layer = channel_layer()
            channel = self.channel
            if channel is None or self.receiver is None or self.receiver.done():
                channel = self.channel = await layer.new_channel()
                self.receiver = asyncio.get_running_loop().create_task(self._receive(channel))
                for known in self.members:  # a receiver that died: its subscriptions go with it
                    await layer.group_add(known, channel)
            members = self.members.setdefault(group, set())
            if not members:
                await layer.group_add(group, channel)
            members.add(member)

    async def leave(self, group: str, member: Member) -> None:
        """Remove `member` from `group` (at once, here); the last one out unsubscribes the process from it.

        The layer's unsubscribe may fail (Redis down): the member is gone all the same, and the process
        receives the group's messages for no one until its next join or its receiver's restart.
        """
        async with self.lock:
            members = self.members.get(group)
            if not members or member not in members:
                return
            members.discard(member)
            if not members:
                del self.members[group]
                if self.channel is not None:
                    try:
                        await channel_layer().group_discard(group, self.channel)
                    except (RedisError, OSError) as error:
                        logger.warning("realtime_channel_layer_unavailable", error=f"{type(error).__name__}: {error}")

    async def _receive(self, channel: str) -> None:
        layer = channel_layer()
        while True:
            message = await layer.receive(channel)
            for member in list(self.members.get(str(message.get("group")), ())):
                try:
                    member.deliver(message)
                except Exception:  # one socket's failure is not the others'
                    logger.exception("realtime_deliver_failed")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()


def hub() -> _Hub:
    """The hub of the running event loop (one per ASGI server process; tests run several loops)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = _Hub()
    return found
