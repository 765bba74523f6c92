"""The Celery app, configured from Django settings (every `CELERY_*` setting)."""

import os
from typing import Any

from celery import Celery, signals
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _event_queues() -> dict[str, Any]:
    """The dead-lettering work queues, built by the events app that owns the topology.

    A promise (`add_defaults`): evaluated when Celery first reads its configuration, so
    importing this module (and with it `project.settings`) loads no app code.
    """
    from apps.events.topology import work_queues  # noqa: PLC0415

    return {"task_queues": work_queues()}


app.add_defaults(_event_queues)
app.autodiscover_tasks()


def _close_old_connections(sender: Any = None, **_: Any) -> None:
    # An eager task runs inside its caller's transaction (the eager relay's): never closed under it.
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


# Around each task, as Django does around each request: a connection older than CONN_MAX_AGE, or
# left unusable by an error, is closed; the others are kept (see CELERY_DB_REUSE_MAX in settings).
signals.task_prerun.connect(_close_old_connections, weak=False, dispatch_uid="project.db_prerun")
signals.task_postrun.connect(_close_old_connections, weak=False, dispatch_uid="project.db_postrun")
