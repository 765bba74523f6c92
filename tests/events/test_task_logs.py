"""Celery's per-task INFO lines of an event delivery are dropped (`event_handled` says it once); others are kept."""

from __future__ import annotations

import logging

import pytest
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

from apps.events.task_logs import DELIVER_TASK


def _celery_line(logger: str, level: int, task: str) -> None:
    """A line as Celery writes it: its own format and a dict of arguments."""
    arguments = {"id": "0190", "name": task, "return_value": "1", "runtime": 0.01, "args": "", "kwargs": ""}
    logging.getLogger(logger).log(level, LOG_SUCCESS if logger == "celery.app.trace" else LOG_RECEIVED, arguments)


@pytest.mark.parametrize("logger", ["celery.worker.strategy", "celery.app.trace"])
def test_celerys_info_lines_of_a_delivery_are_dropped_and_every_other_line_kept(
    logger: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        _celery_line(logger, logging.INFO, DELIVER_TASK)
        _celery_line(logger, logging.INFO, "apps.events.relay_outbox")
        _celery_line(logger, logging.WARNING, DELIVER_TASK)
    kept = [(record.levelno, record.getMessage().split("[")[0]) for record in caplog.records]
    assert kept == [
        (logging.INFO, "Task apps.events.relay_outbox"),
        (logging.WARNING, f"Task {DELIVER_TASK}"),
    ]
