"""`manage.py events_relay [--once]`: publish pending outbox rows; a loop, for deployments without beat.

The loop keeps one broker connection and wakes on PostgreSQL `NOTIFY` when an event commits,
else every `EVENTS_RELAY_INTERVAL` seconds (apps.events.relay_loop).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.events.relay import RelayReport, relay_outbox
from apps.events.relay_loop import RelayLoop


class Command(BaseCommand):
    help = "Publish pending outbox events to the broker (once, or on each commit and every EVENTS_RELAY_INTERVAL s)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass over what is due, then exit")
        parser.add_argument("--batch-size", type=int, default=None, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            self._report(relay_outbox(batch_size=options["batch_size"]))
            return
        RelayLoop(batch_size=options["batch_size"], on_report=self._report).run()  # stopped by a signal

    def _report(self, report: RelayReport) -> None:
        self.stdout.write(
            f"sent={report.sent} retried={report.retried} dead={report.dead} "
            f"broker_unavailable={report.broker_unavailable}"
        )
