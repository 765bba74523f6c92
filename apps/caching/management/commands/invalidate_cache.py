"""`manage.py invalidate_cache --key K --tag T --pattern P [--dry-run]`: remove cache entries, say what went."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.caching.errors import CacheUnavailable
from apps.caching.invalidation import apply_invalidation
from apps.caching.store import InvalidationKind, get_store


class Command(BaseCommand):
    help = "Invalidate cache entries by logical key, tag or glob pattern (each option repeatable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--key", action="append", default=[], help="a logical key, e.g. document:42")
        parser.add_argument("--tag", action="append", default=[], help="a tag, e.g. documents:all")
        parser.add_argument("--pattern", action="append", default=[], help="a glob over logical keys, e.g. document:*")
        parser.add_argument("--dry-run", action="store_true", help="only report what would be removed")

    def handle(self, *args: Any, **options: Any) -> None:
        selected: list[tuple[InvalidationKind, str]] = [
            *(("key", key) for key in options["key"]),
            *(("tag", tag) for tag in options["tag"]),
            *(("pattern", pattern) for pattern in options["pattern"]),
        ]
        if not selected:
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

        for kind, target in selected:
            try:
                # Runs now and raises on an outage: an operator is told, never handed "removed 0".
                count = apply_invalidation(store, kind, [target], dry_run=dry_run, found=listing)
            except CacheUnavailable as error:
                raise CommandError(f"the cache is unavailable, {kind} {target} not invalidated: {error}") from error
            self.stdout.write(f"{kind} {target}: {verb} {count}")
            total += count
        self.stdout.write(f"total: {verb} {total} entr{'y' if total == 1 else 'ies'} ({store.backend_name})")
