"""A WebSocket client for an ASGI application in process: the application's `receive` and `send` are queues.

What Channels' `WebsocketCommunicator` does (that one is not importable without daphne, which the
service does not use), plus `max_pending`: a client that reads slowly, whose `send` blocks once
that many messages wait, as a real socket's full buffers make the server wait. Once the client
has disconnected, the application's `send` raises `OSError`, as the ASGI spec asks of a server
(uvicorn raises `ClientDisconnected`, an `OSError`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson


class WebsocketCommunicator:
    def __init__(
        self,
        application: Any,
        path: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        max_pending: int = 0,
        subprotocols: list[str] | None = None,
    ) -> None:
        scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers or [],
            "subprotocols": subprotocols or [],
        }
        self.input: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.output: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=max_pending)
        self.closed = False
        self.task = asyncio.ensure_future(application(scope, self.input.get, self._send))

    async def _send(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise OSError("the client disconnected")
        await self.output.put(message)

    async def receive_output(self, timeout: float = 1) -> dict[str, Any]:
        getting = asyncio.ensure_future(self.output.get())
        done, _ = await asyncio.wait({getting, self.task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if getting in done:
            return getting.result()
        getting.cancel()
        if self.task in done:
            self.task.result()  # the application raised: the test sees its traceback
            raise AssertionError("the application ended without sending anything more")
        raise TimeoutError(f"nothing sent within {timeout}s")

    async def receive_nothing(self, timeout: float = 0.1) -> bool:
        """True when nothing is sent within `timeout` seconds."""
        await asyncio.sleep(timeout)
        return self.output.empty()

    async def connect(self, timeout: float = 5) -> tuple[bool, int | None]:
        await self.input.put({"type": "websocket.connect"})
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
        await self.input.put(message)

    async def send_json_to(self, data: object) -> None:
        await self.send_to(text_data=orjson.dumps(data).decode())

    async def receive_json_from(self, timeout: float = 1) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return orjson.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 5) -> None:
        self.closed = True
        await self.input.put({"type": "websocket.disconnect", "code": code})
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.task.done() and asyncio.get_running_loop().time() < deadline:
            while not self.output.empty():  # a blocked send must not keep the application from ending
                self.output.get_nowait()
            await asyncio.sleep(0.01)
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
