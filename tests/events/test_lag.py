"""Relay lag: the age of the oldest due pending row, as a gauge and as an optional readiness check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from health_check.exceptions import ServiceUnavailable
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.core.metric_names import metric_name
from apps.events import publish
from apps.events.lag import relay_lag_seconds
from apps.events.models import OutboxEvent, OutboxStatus
from apps.health.checks import RelayLagCheck
from apps.health.configuration import readiness_specs
from tests.events.handlers import RECORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_relay_on_commit(settings: SettingsWrapper) -> None:
    settings.EVENTS_RELAY_ON_COMMIT = False


def _pending_since(seconds: float, *, status: str = OutboxStatus.PENDING) -> None:
    event = publish(RECORD, aggregate="a", aggregate_id=seconds, payload={})
    OutboxEvent.objects.filter(pk=event.id).update(
        available_at=timezone.now() - timedelta(seconds=seconds), status=status
    )


def test_the_lag_is_the_age_of_the_oldest_due_pending_row() -> None:
    assert relay_lag_seconds() == 0.0
    _pending_since(-600)  # waiting out a retry backoff: not lag
    assert relay_lag_seconds() == 0.0
    _pending_since(900, status=OutboxStatus.SENT)
    _pending_since(120)
    _pending_since(30)
    assert 120 <= relay_lag_seconds() < 125
    assert 120 <= (REGISTRY.get_sample_value(metric_name("events_relay_lag_seconds")) or 0) < 125


def test_the_relay_lag_check_fails_past_its_bound_and_is_only_optional(settings: SettingsWrapper) -> None:
    _pending_since(120)
    with pytest.raises(ServiceUnavailable, match=r"has waited 12[0-9]s"):
        RelayLagCheck(max_lag=60).run()
    RelayLagCheck(max_lag=300).run()

    settings.EVENTS_RELAY_MAX_LAG = 0.0
    assert "events_relay" not in {spec.name for spec in readiness_specs()}, "off unless configured"
    settings.EVENTS_RELAY_MAX_LAG = 60.0
    settings.HEALTH_OPTIONAL_CHECKS = []
    specs = {spec.name: spec for spec in readiness_specs()}
    assert specs["events_relay"].required is False, "a relay behind degrades; it never takes a pod out"
