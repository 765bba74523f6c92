"""Structured logging, metrics and tracing for the whole process."""

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "apps.observability"
    label = "observability"

    def ready(self) -> None:
        from apps.observability.task_context import connect_task_context  # noqa: PLC0415

        connect_task_context()
