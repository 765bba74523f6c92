"""System checks for the rules of soft-deletable models."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import models

from apps.core.models.features import is_soft_deletable
from apps.core.querysets import AliveManager

__all__ = ["check_soft_delete_models", "soft_delete_model_messages"]


@register(Tags.models)
def check_soft_delete_models(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for model in apps.get_models():
        messages.extend(soft_delete_model_messages(model))
    return messages


def soft_delete_model_messages(model: type[models.Model]) -> list[CheckMessage]:
    """Warnings for uniqueness that counts deleted rows, and for a default manager that shows them."""
    messages: list[CheckMessage] = []
    if is_soft_deletable(model):
        label = model._meta.label
        for field in model._meta.local_fields:
            if field.unique and not field.primary_key:
                messages.append(
                    Warning(
                        f"{label}.{field.name} has unique=True: a soft-deleted row keeps its value, "
                        "so the value can never be used again.",
                        hint=f'Use Meta.constraints = [unique_for_alive_rows("{field.name}", name=...)].',
                        obj=model,
                        id="core.W001",
                    )
                )
        if model._meta.unique_together:
            messages.append(
                Warning(
                    f"{label} has unique_together: it also counts soft-deleted rows.",
                    hint="Use unique_for_alive_rows(...) in Meta.constraints instead.",
                    obj=model,
                    id="core.W002",
                )
            )
        for constraint in model._meta.constraints:
            if isinstance(constraint, models.UniqueConstraint) and constraint.condition is None:
                messages.append(
                    Warning(
                        f"{label} constraint {constraint.name} is unique over deleted rows too.",
                        hint="Add condition=Q(deleted_at__isnull=True), or use unique_for_alive_rows(...).",
                        obj=model,
                        id="core.W003",
                    )
                )
        if not isinstance(model._default_manager, AliveManager):
            messages.append(
                Warning(
                    f"{label}'s default manager {model._default_manager.name!r} is not an AliveManager: "
                    "related managers would show deleted rows.",
                    hint="Declare objects = AliveManager() first, or keep the one SoftDeleteMixin provides.",
                    obj=model,
                    id="core.W004",
                )
            )
    return messages
