"""The outbox (events waiting for the relay) and the records of events the consumers have handled."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.uuid7 import uuid7
from apps.events.event import Event

__all__ = ["HandledEvent", "OutboxEvent", "OutboxStatus", "ProcessedEvent"]


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
        return Event(
            id=self.id,
            type=self.event_type,
            version=self.version,
            occurred_at=self.occurred_at,
            aggregate=self.aggregate,
            aggregate_id=self.aggregate_id,
            payload=self.payload,
            actor=self.actor or None,
            tenant=self.tenant_id,
            request_id=self.request_id or None,
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
