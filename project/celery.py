"""The Celery app, configured from Django settings (every `CELERY_*` setting)."""

import os
from typing import Any

from celery import Celery

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
