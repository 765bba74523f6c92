"""What the ASGI server must enforce before the application sees a byte: the WebSocket message bound.

uvicorn reads a WebSocket message whole before it hands it to a consumer, up to 16 MiB by default, so
the consumers' own check of `REALTIME_MAX_FRAME_BYTES` (apps/realtime/consumer.py) came after the server
had buffered the message. Bounded here, uvicorn refuses a larger message as its frame header arrives: it
closes the socket with 1009 (message too big) without reading the payload. One number for both: the
setting is read by `realtime_max_frame_bytes` alone (project/settings.py calls it too), and every way the
service starts uvicorn takes it from here: `make run` and the tests' servers (`uvicorn_options`), the
production worker class (`project.asgi_worker.UvicornWorker`, CONFIG_KWARGS).
"""

from __future__ import annotations

from project.environment import EnvReader

__all__ = ["realtime_max_frame_bytes", "uvicorn_options"]


def realtime_max_frame_bytes(env: EnvReader) -> int:
    """The largest WebSocket message a client may send to any socket of the service, in bytes."""
    return env.integer("REALTIME_MAX_FRAME_BYTES", 4096, minimum=64)


def uvicorn_options(env: EnvReader) -> list[str]:
    """The `uvicorn` command-line options that carry the service's bounds."""
    return ["--ws-max-size", str(realtime_max_frame_bytes(env))]
