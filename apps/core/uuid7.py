"""RFC 9562 UUID version 7: time-ordered, generated in Python, returned as a plain `uuid.UUID`.

Layout: 48-bit Unix time in milliseconds, version 7, a 12-bit counter (`rand_a`,
RFC 9562 section 6.2 method 1, seeded randomly each millisecond), the variant, then
62 random bits. Within one process the values strictly increase: several in the
same millisecond increment the counter, and on counter overflow (or a clock that
steps back) the timestamp is carried forward instead of going backwards.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["uuid7", "uuid7_time_ms"]

_COUNTER_BITS = 12
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_lock = threading.Lock()
_last_ms = 0
_last_counter = 0


def uuid7() -> uuid.UUID:
    global _last_ms, _last_counter
    random_bits = int.from_bytes(os.urandom(10), "big")
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            # Seed the counter in the lower half so a burst still has room to grow this millisecond.
            counter = (random_bits >> 68) & (_COUNTER_MAX >> 1)
            timestamp = now_ms
        else:
            counter = _last_counter + 1
            timestamp = _last_ms
            if counter > _COUNTER_MAX:
                timestamp += 1
                counter = 0
        _last_ms, _last_counter = timestamp, counter
    value = (timestamp & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= random_bits & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def uuid7_time_ms(value: uuid.UUID) -> int:
    """The Unix time in milliseconds a UUIDv7 carries."""
    return value.int >> 80
