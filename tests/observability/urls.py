"""Test-only routes: a view that logs, queries, caches and enqueues a task; one that fails."""

from __future__ import annotations

import structlog
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.urls import path

from project.urls import urlpatterns as project_urlpatterns
from tests.observability.tasks import report_context

logger = structlog.get_logger("tests.observability.views")


def work(request: HttpRequest) -> JsonResponse:
    logger.info("inside_view", password="hunter2", headers={"Authorization": "Bearer abc123"})
    users = get_user_model().objects.count()
    cache.set("observability-test:work", users, 10)
    cache.get("observability-test:work")
    # Run in-process (as eager Celery does); tests/observability/test_task_context.py uses a real worker.
    task_context = report_context.apply(args=("from-view",)).get()
    return JsonResponse({"users": users, "task": task_context})


def boom(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("the view failed")


urlpatterns = [
    path("obs/work", work),
    path("obs/boom", boom),
    *project_urlpatterns,
]
