"""`manage.py events_relay [--once]`: publish pending outbox rows; a loop, for deployments without beat."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.events.relay import RelayReport, relay_outbox


class Command(BaseCommand):
    help = "Publish pending outbox events to the broker (once, or every EVENTS_RELAY_INTERVAL seconds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass over what is due, then exit")
        parser.add_argument("--batch-size", type=int, default=None, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            self._report(relay_outbox(batch_size=options["batch_size"]))
            return
        while True:  # stopped by a signal, like a worker
            report = relay_outbox(batch_size=options["batch_size"])
            if report.sent or report.dead or report.broker_unavailable:
                self._report(report)
            time.sleep(settings.EVENTS_RELAY_INTERVAL)

    def _report(self, report: RelayReport) -> None:
        self.stdout.write(
            f"sent={report.sent} retried={report.retried} dead={report.dead} "
            f"broker_unavailable={report.broker_unavailable}"
        )
