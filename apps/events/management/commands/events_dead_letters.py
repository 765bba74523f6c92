"""`manage.py events_dead_letters --list | --replay ID | --replay-all | --purge` (docs/events.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.events.dead_letters import (
    dead_letters,
    purge_dead_letters,
    replay_dead_letters,
    replay_dead_rows,
)
from apps.events.models import OutboxEvent, OutboxStatus
from apps.events.relay import relay_outbox


class Command(BaseCommand):
    help = "List, replay or purge dead letters: the RabbitMQ dead-letter queue and dead outbox rows."

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--list", action="store_true", help="show dead letters, leaving them in place")
        action.add_argument("--replay", metavar="ID", action="append", help="replay one (repeatable): event/task id")
        action.add_argument("--replay-all", action="store_true", help="replay every dead letter")
        action.add_argument("--purge", action="store_true", help="drop every dead letter for good")
        parser.add_argument("--json", action="store_true", help="--list as JSON lines")
        parser.add_argument("--limit", type=int, default=1000, help="at most this many queue messages (default 1000)")
        parser.add_argument(
            "--outbox-only",
            action="store_true",
            help="only dead outbox rows (no broker)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        use_broker = not options["outbox_only"] and not _eager()
        if options["list"]:
            self._list(use_broker, options["limit"], as_json=options["json"])
        elif options["purge"]:
            dropped = purge_dead_letters() if use_broker else 0
            rows, _ = OutboxEvent.objects.filter(status=OutboxStatus.DEAD).delete()
            self.stdout.write(f"purged {dropped} dead-letter message(s) and {rows} dead outbox row(s)")
        else:
            wanted = None if options["replay_all"] else set(options["replay"])
            self._replay(wanted, use_broker, options["limit"])

    def _list(self, use_broker: bool, limit: int, *, as_json: bool) -> None:
        letters = dead_letters(limit=limit) if use_broker else []
        rows = list(OutboxEvent.objects.filter(status=OutboxStatus.DEAD).order_by("occurred_at")[:limit])
        if as_json:
            for letter in letters:
                headers = {name: value for name, value in letter.headers.items() if name != "x-death"}
                record: dict[str, object] = {
                    "source": "queue",
                    "id": letter.id,
                    "task": letter.task,
                    "event_type": letter.event_type,
                }
                record |= {"reason": letter.reason, "queue": letter.queue, "deaths": letter.deaths, "headers": headers}
                self.stdout.write(json.dumps(record, default=str))
            for row in rows:
                record = {"source": "outbox", "id": str(row.id), "event_type": row.event_type}
                record |= {"attempts": row.attempts, "error": row.last_error}
                self.stdout.write(json.dumps(record))
            return
        self.stdout.write(f"dead-letter queue: {len(letters)} message(s)")
        for letter in letters:
            self.stdout.write(
                f"  {letter.id}  {letter.event_type or letter.task}  reason={letter.reason} "
                f"queue={letter.queue} deaths={letter.deaths}"
            )
        self.stdout.write(f"dead outbox rows: {len(rows)}")
        for row in rows:
            self.stdout.write(f"  {row.id}  {row.event_type}  attempts={row.attempts}  {row.last_error[:120]}")

    def _replay(self, wanted: set[str] | None, use_broker: bool, limit: int) -> None:
        row_ids: set[uuid.UUID] | None = None
        if wanted is not None:
            row_ids = set()
            for value in wanted:
                try:
                    row_ids.add(uuid.UUID(value))
                except ValueError:
                    continue  # not an event id: may still be a task id in the queue
        replayed = replay_dead_letters(wanted, limit=limit) if use_broker else []
        rows = replay_dead_rows(row_ids)
        if rows:
            relay_outbox(ids=rows)
        found = {letter.id for letter in replayed} | {str(row) for row in rows}
        if wanted is not None and (missing := wanted - found):
            raise CommandError(f"no dead letter with id {', '.join(sorted(missing))}")
        self.stdout.write(f"replayed {len(replayed)} dead-letter message(s) and {len(rows)} dead outbox row(s)")


def _eager() -> bool:
    from celery import current_app  # noqa: PLC0415

    return bool(current_app.conf.task_always_eager)
