"""orjson rendering for API responses: several times faster than the stdlib encoder DRF uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.renderers import BaseRenderer

__all__ = ["FastJSONRenderer", "render_json"]

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_UUID


def _fallback(value: Any) -> Any:
    """Types orjson leaves to us: lazy translation strings, Decimals, DRF ErrorDetail (a str)."""
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def render_json(data: Any) -> bytes:
    """`data` as the API renders it (also for JSON pre-rendered outside a response, e.g. a cached page)."""
    return orjson.dumps(data, default=_fallback, option=_OPTIONS)


class FastJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        return render_json(data)
