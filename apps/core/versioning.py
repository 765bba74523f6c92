"""Row versions for optimistic concurrency: what an `ETag` names and what `If-Match` is compared with.

A row's version is derived from columns every write already stamps: its primary key
and `updated_at` (`TimestampMixin`). Every write path of `apps.core` (save, the bulk
paths, upsert) sets `updated_at` to a new instant, so a new write means a new version;
the key is part of it because a bulk write gives many rows the same `updated_at`. No
column or migration is needed, and the API and the admin use this one function.

    version = row_version(document.pk, document.updated_at)  # "0f3c…" (opaque)
    expected = ExpectedVersion.from_if_match('"0f3c…"')
    expected.check(document)  # raises PreconditionFailed (412) when someone else wrote since

Soft delete and restore leave `updated_at` alone (they change no field a client
reads), so a restored row has the version it had before the delete: a client that
knew it may restore it with that `If-Match`.

The check only means something when it is made on a row locked for the write (`SELECT
... FOR UPDATE`, as `BaseRepository.update/delete/restore` do): two writers holding the
same version then queue on the lock, and the second sees the first one's version.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.http import parse_etags, quote_etag

from apps.core.errors import PreconditionFailed

__all__ = ["ExpectedVersion", "row_version", "version_of"]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)
_ANY = "*"


def row_version(pk: Any, updated_at: datetime.datetime) -> str:
    """The opaque version of the row `pk` last written at `updated_at` (the same in every process).

    The instant is taken as whole microseconds since the epoch, so a datetime read back from
    PostgreSQL, SQLite or the cache gives the same version as the one the write stamped.
    """
    if updated_at.tzinfo is None:  # USE_TZ=False projects: the database holds UTC wall times
        updated_at = updated_at.replace(tzinfo=datetime.UTC)
    micros = (updated_at - _EPOCH) // _MICROSECOND
    return hashlib.blake2b(f"{pk}:{micros}".encode(), digest_size=12).hexdigest()


def version_of(instance: models.Model) -> str:
    """The version of a model instance as it was last read or written (it needs `updated_at`)."""
    updated_at: datetime.datetime = instance.updated_at  # type: ignore[attr-defined]  # TimestampMixin
    return row_version(instance.pk, updated_at)


@dataclass(frozen=True)
class ExpectedVersion:
    """The versions a write may proceed on: the entity tags of an HTTP `If-Match`, or `*` (any)."""

    etags: tuple[str, ...]

    @classmethod
    def from_if_match(cls, header: str) -> ExpectedVersion:
        """From an `If-Match` value; a value with no valid entity tag matches no version (RFC 9110 §13.1.1)."""
        return cls(tuple(parse_etags(header)))

    @classmethod
    def exactly(cls, version: str) -> ExpectedVersion:
        return cls((quote_etag(version),))

    def matches(self, version: str) -> bool:
        """Strong comparison: a weak tag (`W/"…"`) never matches, as If-Match requires."""
        return _ANY in self.etags or quote_etag(version) in self.etags

    def check(self, instance: models.Model) -> None:
        """Raise `PreconditionFailed` unless `instance` (read under the row lock) is at an expected version."""
        if not self.matches(version_of(instance)):
            raise PreconditionFailed(
                f"This {instance._meta.verbose_name} was changed since the version you sent in If-Match; "
                "read it again (GET) and retry with its current ETag."
            )
