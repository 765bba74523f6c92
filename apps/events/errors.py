"""What can go wrong with an event, and which failures are worth a retry.

A handler raises `TransientError` (or lets a connection/timeout error through) when the
same event may succeed later; the task retries it with exponential backoff and jitter.
Anything else is permanent: retrying a bug or a bad payload only delays the dead letter.
"""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

__all__ = [
    "TRANSIENT_ERRORS",
    "HandlerAlreadyRegistered",
    "PermanentError",
    "TransientError",
    "UnknownEventType",
]


class TransientError(Exception):
    """The handler may succeed if the event is delivered again later (a dependency is down)."""


class PermanentError(Exception):
    """The handler can never succeed with this event: dead-letter it at once, no retry."""


class UnknownEventType(PermanentError):
    """No handler subscribes to the event's type in this process, and no model declares it."""


class HandlerAlreadyRegistered(RuntimeError):
    """Two different handlers of one type share a name: the name keys each one's record of handled events."""


# Retried with backoff; every other exception dead-letters the message on its first failure.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    SoftTimeLimitExceeded,
)
