"""`manage.py prune_cache_tags`: replay missed invalidations, drop expired tag members, finish interrupted drains.

Fills already trim a few expired members of each tag they touch, and tag sets expire after their
last entry; this command is the full sweep (e.g. a daily cron), in bounded chunks.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from apps.caching.errors import CacheUnavailable
from apps.caching.missed import replay_missed
from apps.caching.store import get_store


class Command(BaseCommand):
    help = "Remove expired members from cache tag sets and finish interrupted tag invalidations."

    def handle(self, *args: Any, **options: Any) -> None:
        store = get_store()
        try:
            report = store.prune()
            replayed = replay_missed(store)
        except CacheUnavailable as error:
            raise CommandError(f"the cache is unavailable: {error}") from error
        except DatabaseError as error:
            raise CommandError(f"missed invalidations not replayed, the database is unavailable: {error}") from error
        self.stdout.write(
            f"pruned {report.members_removed} expired member(s) from {report.tag_sets} tag set(s); "
            f"finished {report.orphaned_drains} interrupted invalidation(s) removing {report.entries_removed} "
            f"entr{'y' if report.entries_removed == 1 else 'ies'}; replayed {replayed} invalidation(s) "
            f"missed in an outage ({store.backend_name})"
        )
