"""UUIDv7: RFC 9562 layout, a plain uuid.UUID, strictly increasing within a process."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.uuid7 import uuid7, uuid7_time_ms


def test_is_a_plain_uuid_with_version_7_and_the_rfc_variant() -> None:
    value = uuid7()
    assert type(value) is uuid.UUID
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_carries_the_current_unix_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_time_ms(value) <= after + 1


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=2, max_value=5000))
def test_a_burst_is_strictly_increasing_in_value_bytes_and_text(count: int) -> None:
    values = [uuid7() for _ in range(count)]
    assert values == sorted(values)
    assert len(set(values)) == count
    assert [v.bytes for v in values] == sorted(v.bytes for v in values)
    assert [str(v) for v in values] == sorted(str(v) for v in values)


def test_counter_overflow_within_a_millisecond_carries_into_the_timestamp() -> None:
    # 10,000 in a row is far more than the 12-bit counter holds in one millisecond here.
    values = [uuid7() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(values))


def test_threads_never_produce_duplicates_or_reorder_a_single_thread() -> None:
    results: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def produce(index: int) -> None:
        results[index] = [uuid7() for _ in range(2000)]

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [value for chunk in results for value in chunk]
    assert len(set(everything)) == len(everything)
    assert all(chunk == sorted(chunk) for chunk in results)
