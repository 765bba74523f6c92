"""`GET /metrics`: every Prometheus series of this process, or of all gunicorn workers.

With `PROMETHEUS_MULTIPROC_DIR` set (the gunicorn config sets it) the series of every
worker are read from that directory and merged, so a scrape sees the whole server,
not the one worker that happened to answer. Scrapes go on through a database outage
(no request transaction), when the series matter most.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

from apps.core.request_transactions import outside_request_transactions

__all__ = ["metrics"]


@outside_request_transactions
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = ExportToDjangoView(request)
    return response
