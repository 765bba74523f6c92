"""Prometheus metric names under the service's namespace: `metric_name("cache_hits_total")`.

The namespace is `settings.METRICS_NAMESPACE`, derived from `SERVICE_NAME`
(project/naming.py): two services scraped into one Prometheus keep their series apart,
and a renamed service's dashboards query `<name>_...`. Read when a metrics module is
imported, which is after settings are configured.
"""

from __future__ import annotations

from django.conf import settings

__all__ = ["metric_name"]


def metric_name(metric: str) -> str:
    """`<METRICS_NAMESPACE>_<metric>`, e.g. `billing_cache_hits_total`."""
    return f"{settings.METRICS_NAMESPACE}_{metric}"
