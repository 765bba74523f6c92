"""A real Celery task for the read-replica tests: it reads, writes, reads again, and logs where each read went."""

from __future__ import annotations

import structlog

from project.celery import app
from tests.testapp.models import Label

logger = structlog.get_logger("tests.core.replica_tasks")


@app.task(name="tests.core.replica_read_write_read")
def read_write_read(marker: str, *, write: bool) -> None:
    before = Label.objects.filter(name=marker)
    seen_before, read_before = before.exists(), before.db
    if write:
        Label.objects.create(name=marker)
    after = Label.objects.filter(name=marker)
    logger.info(
        "replica_task",
        marker=marker,
        seen_before=seen_before,
        read_before=read_before,
        seen_after=after.exists(),
        read_after=after.db,
    )
