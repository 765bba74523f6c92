"""A real Celery task for the tests: it logs a line and reports the context it ran in."""

from __future__ import annotations

import structlog

from apps.core.context import current_actor, current_request_id, current_tenant
from project.celery import app

logger = structlog.get_logger("tests.observability.tasks")


@app.task(name="tests.observability.report_context")
def report_context(marker: str) -> dict[str, str | None]:
    logger.info("inside_task", marker=marker)
    tenant = current_tenant()
    return {
        "request_id": current_request_id(),
        "actor": current_actor(),
        "tenant": str(tenant) if tenant is not None else None,
    }
