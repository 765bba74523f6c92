"""A tiny real HTTP server answering `HEAD /status` as a test tells it to (200, 503 or hang)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.health.runner import reset_result_cache


class StatusServer:
    def __init__(self) -> None:
        self.mode = "ok"  # "ok" → 200, "unavailable" → 503, "hang" → no answer until released
        self.release = threading.Event()
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                owner.requests.append(self.path)
                if owner.mode == "hang":
                    owner.release.wait(timeout=60)  # stop() releases it
                self.send_response(
                    503 if owner.mode == "unavailable" else 200 if self.path.endswith("/status") else 404
                )
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/0.1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def status_server() -> Iterator[StatusServer]:
    server = StatusServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _fresh_health_results() -> Iterator[None]:
    reset_result_cache()
    yield
    reset_result_cache()
