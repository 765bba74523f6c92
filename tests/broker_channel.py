"""The broker channel as the AMQP channel it is, for tests that declare, inspect and delete queues."""

from __future__ import annotations

from typing import cast

import amqp
from kombu.transport.base import StdChannel


def amqp_channel(channel: StdChannel) -> amqp.Channel:
    """kombu types a connection's channels by its transport-neutral base, which lacks the queue and
    exchange verbs; on RabbitMQ (pyamqp) they are `amqp.Channel`s, and the in-memory transport's
    channels answer the same verbs."""
    return cast(amqp.Channel, channel)


def queue_depth(channel: StdChannel, name: str) -> int:
    """Messages ready in an existing queue (a passive declare: a missing queue is an error, never created)."""
    declared = amqp_channel(channel).queue_declare(name, passive=True)
    assert declared is not None, "a declare that waits for its answer returns it"
    return int(declared[1])
