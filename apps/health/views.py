"""Probe endpoints: unauthenticated, cheap, never cached by intermediaries.

The bodies are plain JSON for people and dashboards; Kubernetes reads only the status
code (200 ready or degraded, 503 not ready). None takes part in `ATOMIC_REQUESTS`: a
database outage is what readiness reports, not a reason for the probe itself to fail.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.request_transactions import outside_request_transactions
from apps.health.configuration import cache_seconds, readiness_specs
from apps.health.runner import HealthReport, evaluate

__all__ = ["detail", "live", "ready"]


def _report() -> HealthReport:
    return evaluate(readiness_specs(), cache_seconds=cache_seconds())


@outside_request_transactions
@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """200 while the process can serve; touches no dependency."""
    return JsonResponse({"status": "ok"})


@outside_request_transactions
@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """200 when every required check passes (`ok` or `degraded`), 503 otherwise."""
    report = _report()
    return JsonResponse(report.summary(), status=report.http_status)


@outside_request_transactions
@never_cache
@require_GET
def detail(request: HttpRequest) -> JsonResponse:
    """Each check's status, latency, error and whether it came from the result cache."""
    report = _report()
    return JsonResponse(report.detail(), status=report.http_status)
