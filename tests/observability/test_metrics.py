"""`/metrics` shows HTTP, database and cache series after requests; the wrapped backends behave as before."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache, caches
from django.db import connection, connections
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.observability.cache_backends import LocMemCache

pytestmark = pytest.mark.django_db


def _sample(body: str, name: str, **labels: str) -> float:
    """The sum of the series `name` whose labels include `labels`, in the Prometheus text format."""
    total = 0.0
    for line in body.splitlines():
        match = re.match(rf"^{name}\{{(?P<labels>[^}}]*)\}} (?P<value>\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group("labels") for k, v in labels.items()):
            total += float(match.group("value"))
    return total


def test_metrics_show_http_database_and_cache_series_after_requests(client: Client, settings: SettingsWrapper) -> None:
    settings.ROOT_URLCONF = "tests.observability.urls"
    before = client.get("/metrics").content.decode()
    assert client.get("/obs/work").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "no-cache" in response.headers["Cache-Control"]
    after = response.content.decode()
    vendor = connection.vendor
    backend = "redis" if "redis" in settings.CACHES["default"]["BACKEND"] else "locmem"
    series = [
        ("django_http_responses_total_by_status_total", {"status": "200"}),
        ("django_http_requests_latency_seconds_by_view_method_count", {"method": "GET"}),
        ("django_db_execute_total", {"alias": "default", "vendor": vendor}),
        ("django_cache_get_total", {"backend": backend}),
        ("django_cache_get_hits_total", {"backend": backend}),
    ]
    for name, labels in series:
        assert _sample(after, name, **labels) > _sample(before, name, **labels), name


def test_wrapped_database_engine_keeps_its_vendor() -> None:
    assert connection.vendor in {"sqlite", "postgresql"}
    assert type(connections["default"]).__module__.startswith("django_prometheus.db.backends.")


def test_the_metered_local_memory_cache_returns_falsy_values_as_stored(settings: SettingsWrapper) -> None:
    settings.CACHES = {"default": {"BACKEND": "apps.observability.cache_backends.LocMemCache", "LOCATION": "falsy"}}
    local = caches["default"]
    assert isinstance(local, LocMemCache)
    falsy: tuple[object, ...] = (0, "", [], False)
    for value in falsy:
        local.set("falsy", value)
        assert local.get("falsy", "default") == value
    assert local.get("missing", "default") == "default"
    cache.clear()
