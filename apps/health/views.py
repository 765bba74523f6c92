"""Probe endpoints: unauthenticated, cheap, never cached by intermediaries."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """200 while the process can serve; touches no dependency."""
    return JsonResponse({"status": "ok"})
