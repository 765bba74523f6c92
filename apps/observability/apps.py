"""Structured logging, metrics and tracing for the whole process."""

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "apps.observability"
    label = "observability"

    def ready(self) -> None:
        from django.conf import settings  # noqa: PLC0415

        from apps.observability.task_context import connect_task_context  # noqa: PLC0415
        from apps.observability.tracing import configure_tracing  # noqa: PLC0415

        connect_task_context()
        # Before the WSGI handler loads the middleware, so Django's tracing middleware is in it.
        configure_tracing(service_name=settings.SERVICE_NAME)
