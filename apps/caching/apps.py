from django.apps import AppConfig


class CachingConfig(AppConfig):
    name = "apps.caching"
    label = "caching"

    def ready(self) -> None:
        # Registers the deploy-time eviction-policy check and the settings-change reset.
        from apps.caching import checks, store  # noqa: F401, PLC0415 - registration needs the app registry ready
        from apps.caching.invalidation import invalidate_tags  # noqa: PLC0415
        from apps.core.side_effects import plug_invalidator  # noqa: PLC0415

        plug_invalidator(invalidate_tags)  # the tags models declare are dropped at the change's commit
