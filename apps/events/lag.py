"""Relay lag: how long the oldest pending outbox row that is due has waited (0 when none is due).

Rows waiting out a retry backoff are not lag (they are not due yet); a row is due from its
`available_at`. One index-only look-up (`events_outbox_pending`), however big the outbox.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Min
from django.utils import timezone

from apps.events.metrics import RELAY_LAG
from apps.events.models import OutboxEvent, OutboxStatus

__all__ = ["relay_lag_seconds"]


def relay_lag_seconds(using: str = DEFAULT_DB_ALIAS) -> float:
    """The lag now, also set as the `service_events_relay_lag_seconds` gauge."""
    now = timezone.now()
    oldest = (
        OutboxEvent.objects.using(using)
        .filter(status=OutboxStatus.PENDING, available_at__lte=now)
        .aggregate(oldest=Min("available_at"))["oldest"]
    )
    lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    RELAY_LAG.set(lag)
    return lag
