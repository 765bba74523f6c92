import logging

from django.apps import AppConfig


class AccentAuthConfig(AppConfig):
    name = "apps.accent_auth"
    label = "accent_auth"
    verbose_name = "Accent-Auth"

    def ready(self) -> None:
        # httpx logs every request URL at INFO, and Accent-Auth URLs carry the token:
        # keep credentials out of the logs.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        # client: connects the setting_changed receiver that drops the on-demand HTTP client.
        # schema: registers the OpenAPI security scheme of token authentication with drf-spectacular.
        from apps.accent_auth import client, schema  # noqa: F401, PLC0415
