"""The outbox (events waiting for the relay) and the records of events the consumers have handled."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q

from apps.core.uuid7 import uuid7
from apps.events.event import Event, Payload

__all__ = ["HandledEvent", "OutboxEvent", "OutboxStatus", "ProcessedEvent", "event_of"]


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENT = "sent", "sent"
    DEAD = "dead", "dead"


class OutboxEvent(models.Model):
    """One event, written in the transaction of the change it describes; the relay publishes it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    event_type = models.CharField(max_length=100)
    version = models.PositiveSmallIntegerField(default=1)
    occurred_at = models.DateTimeField()
    aggregate = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    actor = models.CharField(max_length=200, blank=True, default="")
    tenant_id = models.UUIDField(null=True, blank=True)
    request_id = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    available_at = models.DateTimeField(help_text="the relay publishes the row from this moment (retry backoff)")
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "events_outbox"
        verbose_name = "outbox event"
        ordering = ["-occurred_at"]
        indexes = [
            # The relay's only query: small however many sent rows accumulate.
            models.Index(fields=["available_at", "id"], condition=Q(status="pending"), name="events_outbox_pending"),
            models.Index(fields=["status", "event_type"], name="events_outbox_status_type"),
            models.Index(fields=["aggregate", "aggregate_id"], name="events_outbox_aggregate"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate}:{self.aggregate_id} ({self.status})"

    def to_event(self) -> Event:
        return event_of(
            self.id,
            self.event_type,
            self.version,
            self.occurred_at,
            self.aggregate,
            self.aggregate_id,
            self.payload,
            self.actor,
            self.tenant_id,
            self.request_id,
        )


def event_of(  # noqa: PLR0917 - the columns in order, so a claimed row's tuple spreads into it
    id: uuid.UUID,
    event_type: str,
    version: int,
    occurred_at: datetime,
    aggregate: str,
    aggregate_id: str,
    payload: Payload,
    actor: str,
    tenant_id: uuid.UUID | None,
    request_id: str,
) -> Event:
    """The event an outbox row's columns carry (a model instance's, or the relay's claimed tuple)."""
    return Event(
        id=id,
        type=event_type,
        version=version,
        occurred_at=occurred_at,
        aggregate=aggregate,
        aggregate_id=aggregate_id,
        payload=payload,
        actor=actor or None,
        tenant=tenant_id,
        request_id=request_id or None,
    )


class ProcessedEvent(models.Model):
    """An event every subscriber has handled (`HandledEvent` for each): redeliveries are skipped at once."""

    event_id = models.UUIDField(primary_key=True)
    event_type = models.CharField(max_length=100)
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "events_processed"
        verbose_name = "processed event"

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class HandledEvent(models.Model):
    """An event one subscriber has handled, committed with that subscriber's effect.

    One per (event, subscriber): a subscriber that failed is retried alone, and a redelivery
    never runs again the effect of one that succeeded.
    """

    event_id = models.UUIDField()
    handler = models.CharField(max_length=300, help_text="the subscriber's module and qualified name")
    event_type = models.CharField(max_length=100)
    handled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "events_handled"
        verbose_name = "handled event"
        constraints = [models.UniqueConstraint(fields=["event_id", "handler"], name="events_handled_once")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} by {self.handler}"
