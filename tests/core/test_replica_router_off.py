"""Without DATABASE_REPLICA_URL (the embedded default, today's real-service run) nothing changes."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connections, router

from apps.core.replica_router import PRIMARY, REPLICA
from apps.health.configuration import readiness_specs
from tests.testapp.models import Label


@pytest.mark.django_db
def test_without_a_replica_nothing_is_routed_and_nothing_is_checked() -> None:
    assert REPLICA not in connections
    assert settings.DATABASE_ROUTERS == []
    assert router.db_for_read(Label) == PRIMARY
    assert "database_replica" not in {spec.name for spec in readiness_specs()}
