"""`manage.py invalidate_cache --key K --tag T --pattern P [--dry-run]`: remove cache entries, say what went."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.caching.errors import CacheUnavailable
from apps.caching.invalidation import invalidate_cache, invalidate_pattern, invalidate_tags
from apps.caching.store import get_store


class Command(BaseCommand):
    help = "Invalidate cache entries by logical key, tag or glob pattern (each option repeatable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--key", action="append", default=[], help="a logical key, e.g. document:42")
        parser.add_argument("--tag", action="append", default=[], help="a tag, e.g. documents:all")
        parser.add_argument("--pattern", action="append", default=[], help="a glob over logical keys, e.g. document:*")
        parser.add_argument("--dry-run", action="store_true", help="only report what would be removed")

    def handle(self, *args: Any, **options: Any) -> None:
        keys: list[str] = options["key"]
        tags: list[str] = options["tag"]
        patterns: list[str] = options["pattern"]
        if not (keys or tags or patterns):
            raise CommandError("give at least one --key, --tag or --pattern")
        dry_run: bool = options["dry_run"]
        verb = "would remove" if dry_run else "removed"
        show_keys = options["verbosity"] >= 2
        store = get_store()
        total = 0

        def listing(found: Sequence[str]) -> None:
            if show_keys:
                for key in found:
                    self.stdout.write(f"  {key}")

        try:
            for key in keys:
                if dry_run:
                    count = store.invalidate_keys([key], dry_run=True, found=listing)
                else:
                    count = invalidate_cache(key, found=listing)
                self.stdout.write(f"key {key}: {verb} {count}")
                total += count
            for tag in tags:
                if dry_run:
                    count = store.invalidate_tags([tag], dry_run=True, found=listing)
                else:
                    count = invalidate_tags([tag], found=listing)
                self.stdout.write(f"tag {tag}: {verb} {count}")
                total += count
            for pattern in patterns:
                if dry_run:
                    count = store.invalidate_pattern(pattern, dry_run=True, found=listing)
                else:
                    count = invalidate_pattern(pattern, found=listing)
                self.stdout.write(f"pattern {pattern}: {verb} {count}")
                total += count
        except CacheUnavailable as error:
            raise CommandError(f"the cache is unavailable: {error}") from error
        self.stdout.write(f"total: {verb} {total} entr{'y' if total == 1 else 'ies'} ({store.backend_name})")
