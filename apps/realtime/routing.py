"""The WebSocket routes (`project/asgi.py` mounts them); any other path is closed with 4404."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path, re_path

from apps.realtime.consumer import EventsConsumer

__all__ = ["websocket_urlpatterns"]


class _NoSuchPath(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.close(code=4404, reason="No WebSocket endpoint at this path; see /ws/v1/events/ and /ws/graphql/.")


# Channels routes ASGI applications with Django's `path()`; Django's stubs type it for views only.
websocket_urlpatterns: list[Any] = [
    path("ws/v1/events/", EventsConsumer.as_asgi()),  # type: ignore[arg-type]
    re_path(r"", _NoSuchPath.as_asgi()),  # type: ignore[arg-type]
]
