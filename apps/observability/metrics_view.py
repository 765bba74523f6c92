"""`GET /metrics`: every Prometheus series of this process, or of all gunicorn workers.

With `PROMETHEUS_MULTIPROC_DIR` set (the gunicorn config sets it) the series of every
worker are read from that directory and merged, so a scrape sees the whole server,
not the one worker that happened to answer.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

__all__ = ["metrics"]


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = ExportToDjangoView(request)
    return response
