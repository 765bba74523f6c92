"""Pipelined publisher confirms: a batch of messages goes out, then its confirms are awaited together.

kombu's `confirm_publish` (py-amqp's `basic_publish_confirm`) waits for the broker's ack of
each message before sending the next: one network round trip per event. Here the channel is
put in confirm mode once and every message of a batch is written back to back; RabbitMQ acks
them as it takes them, usually many at a time (`basic.ack` with `multiple`), and the batch
waits once, for the last one. A round trip is paid per batch.

Each message's delivery tag is its position in the channel (1, 2, ...); an ack or nack with
`multiple` settles every tag up to its own. What `publish()` returns says, per message,
whether the broker took it (`CONFIRMED`), refused it (`NACKED`, e.g. a queue at `x-max-length`
with `reject-publish`), or was never heard from (`UNCONFIRMED`: the connection was lost, the
channel closed, or no confirm came within the timeout). Unconfirmed is not a verdict on the
message: the broker may or may not have it, so it is published again later and the
idempotent consumer skips a duplicate.

The client is py-amqp through kombu, already what Celery uses here: the same connection
parameters (URL, TLS, timeouts from Celery's configuration), the same error classes the relay
already tells apart, and no second AMQP stack (aio-pika/aiormq would bring asyncio into a
synchronous relay for the same wire protocol). See docs/events.md.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import amqp
from amqp import spec
from amqp.method_framing import frame_writer
from amqp.serialization import dumps
from kombu import Connection, Queue

__all__ = ["BatchResult", "Confirm", "ConfirmedPublisher", "OutgoingMessage"]


class Confirm(enum.Enum):
    CONFIRMED = "confirmed"
    NACKED = "nacked"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class OutgoingMessage:
    """One AMQP message ready for the wire: its body and its encoded basic properties.

    `properties` is the property flags and list of the content header frame, as py-amqp's
    `Message._serialize_properties()` writes them (headers included): encoded once here, so a
    relay can build it from a per-batch template instead of re-encoding the whole header table.
    """

    body: bytes
    properties: bytes
    exchange: str
    routing_key: str

    @classmethod
    def encode(
        cls, body: bytes, *, headers: dict[str, Any], properties: dict[str, Any], exchange: str, routing_key: str
    ) -> OutgoingMessage:
        """The message py-amqp would write for these headers and properties (its own encoder)."""
        message = amqp.Message(body, application_headers=headers, **properties)
        encoded: bytes = message._serialize_properties()  # type: ignore[attr-defined]
        return cls(body=body, properties=encoded, exchange=exchange, routing_key=routing_key)


class _EncodedContent:
    """What py-amqp's frame writer needs of a message: the body and the encoded properties."""

    __slots__ = ("_encoded", "body", "properties")

    def __init__(self, body: bytes, encoded: bytes) -> None:
        self.body, self._encoded = body, encoded
        self.properties: dict[str, Any] = {}  # read by the writer only for a str body

    def _serialize_properties(self) -> bytes:
        return self._encoded


@dataclass
class BatchResult:
    """Per message (in the order given): what the broker said; `error` if the batch was cut short."""

    outcomes: list[Confirm]
    error: BaseException | None = None
    confirm_seconds: float = 0.0

    @property
    def confirmed(self) -> int:
        return self.outcomes.count(Confirm.CONFIRMED)


@dataclass
class _Pending:
    first_tag: int
    outcomes: list[Confirm]
    settled: int = 0
    _floor: int = field(default=0)  # every tag <= _floor is settled (acks with `multiple`)

    def settle(self, delivery_tag: int, multiple: bool, outcome: Confirm) -> None:
        last = self.first_tag + len(self.outcomes) - 1
        tags = range(max(self._floor + 1, self.first_tag), min(delivery_tag, last) + 1) if multiple else [delivery_tag]
        for tag in tags:
            index = tag - self.first_tag
            if 0 <= index < len(self.outcomes) and self.outcomes[index] is Confirm.UNCONFIRMED:
                self.outcomes[index] = outcome
                self.settled += 1
        if multiple:
            self._floor = max(self._floor, delivery_tag)


_FLUSH_BYTES = 128 * 1024


class _FrameBuffer:
    """What py-amqp's frame writer writes to, instead of the socket."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, frame: bytes | memoryview) -> None:
        self.data += frame  # a copy: the writer reuses its memoryview for the next frame

    def take(self) -> bytes:
        data, self.data = bytes(self.data), bytearray()
        return data


class ConfirmedPublisher:
    """One AMQP connection and one channel in confirm mode; reusable across batches until it fails.

    `connection` is a kombu `Connection` not yet used (the caller owns connecting and closing it);
    `declarations` are declared once on this channel before the first batch.
    """

    def __init__(self, connection: Connection, *, declarations: Sequence[Queue] = ()) -> None:
        self.connection = connection
        self._declarations = list(declarations)
        self._channel: amqp.Channel | None = None
        self._next_tag = 1
        self._pending: _Pending | None = None
        self.failed = False  # a batch failed on it: drop the connection, never close it politely

    def _open_channel(self) -> amqp.Channel:
        if self._channel is None:
            channel = self.connection.channel()
            if not isinstance(channel, amqp.Channel):
                raise TypeError("publisher confirms need RabbitMQ through py-amqp (an amqp:// broker URL)")
            for queue in self._declarations:
                queue(channel).declare()
            channel.confirm_select()
            # py-amqp calls these for each basic.ack / basic.nack (its stubs do not declare `events`).
            events: dict[str, set[Callable[[int, bool], None]]] = channel.events  # type: ignore[attr-defined]
            events["basic_ack"].add(self._on_ack)
            events["basic_nack"].add(self._on_nack)
            self._channel, self._next_tag = channel, 1
        return self._channel

    def _write_batch(self, channel: amqp.Channel, messages: Sequence[OutgoingMessage], timeout: float) -> None:
        """Write the batch's basic.publish frames, `_FLUSH_BYTES` per socket write.

        The frames are py-amqp's own (its frame writer, its argument encoding), only written
        to a buffer first: py-amqp's `basic_publish` makes one socket write per message, plus a
        wait for its confirm (with `confirm_publish`) or a non-blocking read (with the
        `connection.blocked` capability). The confirms are read once, after the batch. A broker
        that blocks publishers stops reading: the write timeout turns that into a failure of this
        batch, never a relay stuck holding its row locks.
        """
        transport = channel.connection.transport
        buffer = _FrameBuffer()
        write_frame = frame_writer(channel.connection, buffer)
        with transport.having_timeout(timeout):
            for message in messages:
                payload = _EncodedContent(message.body, message.properties)
                arguments = dumps("Bssbb", (0, message.exchange, message.routing_key, False, False))
                write_frame(1, channel.channel_id, spec.Basic.Publish, arguments, payload)
                self._next_tag += 1
                if len(buffer.data) >= _FLUSH_BYTES:
                    transport.write(buffer.take())
            if buffer.data:
                transport.write(buffer.take())

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if self._pending is not None:
            self._pending.settle(delivery_tag, multiple, Confirm.CONFIRMED)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        if self._pending is not None:
            self._pending.settle(delivery_tag, multiple, Confirm.NACKED)

    def publish(self, messages: Sequence[OutgoingMessage], *, timeout: float) -> BatchResult:
        """Publish all of `messages`, then wait up to `timeout` s for their confirms.

        Never raises a transport error: a failure is returned as `error`, with the messages
        settled before it marked and the rest `UNCONFIRMED`; the publisher is then unusable.
        """
        pending = _Pending(first_tag=self._next_tag, outcomes=[Confirm.UNCONFIRMED] * len(messages))
        self._pending = pending
        started = time.perf_counter()
        try:
            channel = self._open_channel()
            pending.first_tag = self._next_tag
            self._write_batch(channel, messages, timeout)
            deadline = time.monotonic() + timeout
            while pending.settled < len(messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no publisher confirm within {timeout:g}s")
                try:
                    self.connection.drain_events(timeout=remaining)
                except TimeoutError as error:
                    raise TimeoutError(f"no publisher confirm within {timeout:g}s") from error
        except Exception as error:  # the caller tells a broker failure from a bug (relay._broker_failed)
            self._channel, self.failed = None, True
            return BatchResult(pending.outcomes, error, time.perf_counter() - started)
        finally:
            self._pending = None
        return BatchResult(pending.outcomes, None, time.perf_counter() - started)
