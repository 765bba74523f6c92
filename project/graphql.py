"""The GraphQL schema: every feature app's `api/graphql.py` `Query`, `Mutation` and `Subscription`, merged.

Served at /graphql/ (project/urls.py; subscriptions: project/asgi.py, docs/graphql.md); `schema.graphql`
at the repository root is `str(schema)`, kept equal by a test: regenerate it with `make graphql-schema`.
"""

from __future__ import annotations

import importlib
import importlib.util

from django.conf import settings
from strawberry.extensions import ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from apps.core.api.graphql import (
    INSTANT_SCALAR,
    Instant,
    LeafReadingExecutionContext,
    ParsedQueries,
    ProblemErrors,
    ProblemSchema,
    SettingsLimits,
)

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
    subscription=merge_types("Subscription", _feature_types("Subscription")),
    # Clients send the same few queries: each is parsed once and validated once (LRU, bounded) per
    # limit settings.
    extensions=[SettingsLimits, ParsedQueries, lambda: ValidationCache(maxsize=256), ProblemErrors],
    config=StrawberryConfig(scalar_map={Instant: INSTANT_SCALAR}),
    execution_context_class=LeafReadingExecutionContext,
)
