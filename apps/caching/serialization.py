"""How cached values are stored: pickle (protocol 5) behind a one-byte header.

Pickle round-trips what services return: dataclasses, dicts, lists, tuples, sets, primitives,
`datetime`, `Decimal`, `UUID`. Model instances and querysets are refused on purpose (they drag
database state and lazy queries into the cache and go stale silently): return a dataclass or a
dict from the service instead. Anything pickle cannot handle (lambdas, generators, open files)
raises `CacheSerializationError` naming the type.

Header `0`: the value. Header `1`: an 8-byte float (when the entry wants an early refresh,
refresh-ahead), then the value. A hit decodes in one `pickle.loads`.
"""

from __future__ import annotations

import io
import pickle
import struct
from typing import Any

from django.db.models import Manager, Model, QuerySet

from apps.caching.errors import CacheSerializationError

__all__ = ["decode", "encode"]

_PLAIN = b"\x00"
_WITH_REFRESH = b"\x01"
_FLOAT = struct.Struct("!d")
_REFUSED = (Model, QuerySet, Manager)


class _GuardedPickler(pickle.Pickler):
    # Called only for objects pickle cannot handle natively (not for int/str/dict/list...), so the
    # check costs nothing on plain data.
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _REFUSED):
            raise CacheSerializationError(
                f"refusing to cache a {type(obj).__module__}.{type(obj).__qualname__}: "
                "return a dataclass or dict from the service, not a model instance or queryset"
            )
        return NotImplemented


def encode(value: object, refresh_at: float | None = None) -> bytes:
    buffer = io.BytesIO()
    buffer.write(_PLAIN if refresh_at is None else _WITH_REFRESH + _FLOAT.pack(refresh_at))
    try:
        _GuardedPickler(buffer, protocol=5).dump(value)
    except CacheSerializationError:
        raise
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise CacheSerializationError(f"cannot cache a {type(value).__name__}: {error}") from error
    return buffer.getvalue()


def decode(payload: bytes) -> tuple[Any, float | None]:
    """(value, refresh_at): refresh_at is the time after which one caller refreshes early, or None."""
    view = memoryview(payload)
    if view[0] == 0:
        return pickle.loads(view[1:]), None  # noqa: S301 - written only by encode() into our own namespace
    (refresh_at,) = _FLOAT.unpack_from(view, 1)
    return pickle.loads(view[1 + _FLOAT.size :]), refresh_at  # noqa: S301
