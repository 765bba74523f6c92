"""`manage.py cache_stats`: what the cache holds under this service's namespace."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.caching.checks import eviction_policy_warning
from apps.caching.errors import CacheUnavailable
from apps.caching.store import get_store


class Command(BaseCommand):
    help = "Count cache entries, tag sets and their members, generations and locks (SCAN, in chunks)."

    def handle(self, *args: Any, **options: Any) -> None:
        store = get_store()
        try:
            stats = store.stats()
            warning = eviction_policy_warning(store)
        except CacheUnavailable as error:
            raise CommandError(f"the cache is unavailable: {error}") from error
        self.stdout.write(f"backend: {stats.backend}")
        self.stdout.write(f"namespace: {stats.namespace}")
        for name, value in stats.counts.items():
            self.stdout.write(f"{name}: {value}")
        for name, text in stats.server.items():
            self.stdout.write(f"{name}: {text}")
        if warning:
            self.stderr.write(f"warning: {warning}")
