"""`manage.py prune_cache_tags`: drop expired members from every tag set, finish interrupted invalidations.

Fills already trim a few expired members of each tag they touch, and tag sets expire after their
last entry; this command is the full sweep (e.g. a daily cron), in bounded chunks.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.caching.errors import CacheUnavailable
from apps.caching.store import get_store


class Command(BaseCommand):
    help = "Remove expired members from cache tag sets and finish interrupted tag invalidations."

    def handle(self, *args: Any, **options: Any) -> None:
        store = get_store()
        try:
            report = store.prune()
        except CacheUnavailable as error:
            raise CommandError(f"the cache is unavailable: {error}") from error
        self.stdout.write(
            f"pruned {report.members_removed} expired member(s) from {report.tag_sets} tag set(s); "
            f"finished {report.orphaned_drains} interrupted invalidation(s) removing {report.entries_removed} "
            f"entr{'y' if report.entries_removed == 1 else 'ies'} ({store.backend_name})"
        )
