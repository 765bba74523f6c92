"""The GraphQL schema: every feature app's `api/graphql.py` `Query` and `Mutation`, merged (docs/graphql.md).

Served at /graphql/ (project/urls.py); `schema.graphql` at the repository root is `str(schema)`,
kept equal by a test: regenerate it with `make graphql-schema`.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util

from django.conf import settings
from strawberry.tools import merge_types

from apps.core.api.graphql import ProblemErrors, ProblemSchema, SettingsLimits, UtcDateTime

__all__ = ["schema"]


def _feature_types(name: str) -> tuple[type, ...]:
    """Each feature app's `api.graphql.<name>`, in FEATURE_APPS order; an app without a GraphQL API has none."""
    found = []
    for app in settings.FEATURE_APPS:
        if importlib.util.find_spec(f"{app}.api.graphql") is None:
            continue
        module = importlib.import_module(f"{app}.api.graphql")
        if hasattr(module, name):
            found.append(getattr(module, name))
    return tuple(found)


schema = ProblemSchema(
    query=merge_types("Query", _feature_types("Query")),
    mutation=merge_types("Mutation", _feature_types("Mutation")),
    extensions=[SettingsLimits, ProblemErrors],
    scalar_overrides={datetime.datetime: UtcDateTime},
)
