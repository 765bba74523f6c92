"""gunicorn's uvicorn worker with the service's WebSocket bound: `-k project.asgi_worker.UvicornWorker`.

`uvicorn_worker.UvicornWorker` builds uvicorn's `Config` from gunicorn's settings and its `CONFIG_KWARGS`;
gunicorn has no setting for the WebSocket message size, so it goes there (project/asgi_server.py says why).
A module of its own: importing uvicorn and gunicorn costs a third of a second, which the settings, which
read the same bound, must not pay.
"""

from __future__ import annotations

from typing import Any, ClassVar

import uvicorn_worker

from project.asgi_server import realtime_max_frame_bytes
from project.environment import EnvReader

__all__ = ["UvicornWorker"]


class UvicornWorker(uvicorn_worker.UvicornWorker):  # type: ignore[misc]  # uvicorn_worker ships no types
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **uvicorn_worker.UvicornWorker.CONFIG_KWARGS,
        "ws_max_size": realtime_max_frame_bytes(EnvReader()),
    }
