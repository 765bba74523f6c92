from typing import Any

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery import signals  # noqa: PLC0415
        from django.utils.module_loading import autodiscover_modules  # noqa: PLC0415

        from apps.core.side_effects import plug_publisher  # noqa: PLC0415
        from apps.events import tasks  # noqa: F401, PLC0415 - registers the Celery tasks
        from apps.events.declared import publish_declared  # noqa: PLC0415

        plug_publisher(publish_declared)  # the events models declare go through the outbox

        # Every process (web, worker, relay) knows every handler: routes agree everywhere.
        autodiscover_modules("event_handlers")
        signals.worker_ready.connect(_declare_dead_letters, weak=False, dispatch_uid="events.dead_letters")


def _declare_dead_letters(sender: Any = None, **_: Any) -> None:
    """A worker declares the dead-letter exchange and queue at start, before it can reject anything."""
    from apps.events.dead_letters import declare_topology  # noqa: PLC0415

    declare_topology()
