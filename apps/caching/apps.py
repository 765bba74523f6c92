from django.apps import AppConfig


class CachingConfig(AppConfig):
    name = "apps.caching"
    label = "caching"

    def ready(self) -> None:
        # Registers the deploy-time eviction-policy check and the settings-change reset.
        from apps.caching import checks, store  # noqa: F401, PLC0415 - registration needs the app registry ready
