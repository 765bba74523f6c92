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
        # Before the consumer starts too: on quorum queues Celery's delayed-delivery step binds every
        # work queue's exchange, which must exist by then (a worker consuming one queue declares only it).
        signals.worker_init.connect(_declare_early, weak=False, dispatch_uid="events.declare_early")
        signals.worker_ready.connect(_declare_dead_letters, weak=False, dispatch_uid="events.dead_letters")


def _declare_early(sender: Any = None, **_: Any) -> None:
    import structlog  # noqa: PLC0415

    try:
        _declare_dead_letters()
    except Exception as error:  # the broker is not there yet: the consumer waits for it, worker_ready declares
        structlog.get_logger(__name__).warning(
            "events_declare_at_init_failed", error=f"{type(error).__name__}: {error}"
        )


def _declare_dead_letters(sender: Any = None, **_: Any) -> None:
    """A worker declares its queues and the dead-letter exchange and queue at start, before it can reject anything."""
    from apps.events.dead_letters import declare_topology  # noqa: PLC0415

    declare_topology()
