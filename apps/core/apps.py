from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules  # noqa: PLC0415

        from apps.core import checks  # noqa: F401, PLC0415 - registers the system checks
        from apps.core.hard_delete_audit import connect_hard_delete_audit  # noqa: PLC0415
        from apps.core.replica_router import connect_replica_watch  # noqa: PLC0415

        connect_hard_delete_audit()
        connect_replica_watch()
        # Each app's `effects.py` declares what a change of its models means (apps.core.side_effects).
        autodiscover_modules("effects")
