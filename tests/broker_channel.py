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
