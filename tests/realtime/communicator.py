"""A WebSocket client for an ASGI application in process, on asgiref's `ApplicationCommunicator`.

What Channels' `WebsocketCommunicator` does; that one is not importable without daphne
(`channels.testing` imports its live server), which the service does not use.
"""

from __future__ import annotations

from typing import Any

import orjson
from asgiref.testing import ApplicationCommunicator


class WebsocketCommunicator:
    def __init__(self, application: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers or [],
            "subprotocols": [],
        }
        self._app = ApplicationCommunicator(application, scope)

    async def send_input(self, message: dict[str, Any]) -> None:
        await self._app.send_input(message)

    async def receive_output(self, timeout: float = 1) -> dict[str, Any]:
        output: dict[str, Any] = await self._app.receive_output(timeout)
        return output

    async def receive_nothing(self, timeout: float = 0.1) -> bool:
        """True when nothing arrives within `timeout` seconds."""
        nothing: bool = await self._app.receive_nothing(timeout)
        return nothing

    async def connect(self, timeout: float = 5) -> tuple[bool, int | None]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        return True, None

    async def send_to(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message: dict[str, Any] = {"type": "websocket.receive"}
        if text_data is not None:
            message["text"] = text_data
        if bytes_data is not None:
            message["bytes"] = bytes_data
        await self.send_input(message)

    async def send_json_to(self, data: object) -> None:
        await self.send_to(text_data=orjson.dumps(data).decode())

    async def receive_json_from(self, timeout: float = 1) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return orjson.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 5) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self._app.wait(timeout)
