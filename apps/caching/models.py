"""What the cache layer must remember across processes: invalidations an outage swallowed."""

from __future__ import annotations

import uuid

from django.db import models

__all__ = ["MissedInvalidation"]


class MissedInvalidation(models.Model):
    """A committed write's invalidation that Redis did not answer; replayed once Redis is back.

    One row per (kind, target): an outage that swallows a thousand invalidations of one tag keeps
    one row. `token` changes each time the row is recorded again, so a replay deletes only the
    rows as it read them and never one recorded again while it ran.
    """

    class Kind(models.TextChoices):
        KEY = "key"
        TAG = "tag"
        PATTERN = "pattern"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    target = models.TextField()
    missed_at = models.DateTimeField()
    token = models.UUIDField(default=uuid.uuid4)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "target"], name="caching_missed_unique_target")]

    def __str__(self) -> str:
        return f"{self.kind} {self.target}"
