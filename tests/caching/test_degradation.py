"""Redis stops (a private redis-server this test owns): served, logged once, counted; recovers by itself."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from prometheus_client import REGISTRY

from apps.caching import cached, invalidate_tags
from apps.caching.store import get_store, reset_store
from apps.core.metric_names import metric_name
from apps.core.models import AuditEvent
from apps.documents.models import Document
from tests.admin.conftest import ACME, VIEW_AND_DELETE, client_for, create_staff
from tests.caching.conftest import redis_cache_settings
from tests.processes import free_port

ALICE = "00000000-0000-4000-9000-00000000000a"  # the stand-in's alice (devtools.accent_auth_standin)


def _errors() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == metric_name("cache_errors"):
            total += sum(sample.value for sample in metric.samples if sample.name.endswith("_total"))
    return total


@pytest.mark.django_db(transaction=True)  # the invalidation the outage swallows is recorded for replay
@pytest.mark.usefixtures("redis_url")
def test_an_outage_degrades_to_computing_and_recovers_without_restart(
    own_redis_server: Any, settings: Any, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CACHES = redis_cache_settings(own_redis_server.url, namespace)
    settings.CACHING_OUTAGE_BACKOFF = 0.05
    calls: list[int] = []

    @cached(key_prefix="outage", ttl=60, tags=lambda n: ["outage"], lock=True)
    def value(n: int) -> int:
        calls.append(n)
        return n

    assert value(1) == 1
    assert value(1) == 1
    assert calls == [1]

    own_redis_server.stop()
    errors_before = _errors()
    with caplog.at_level(logging.WARNING, logger="apps.caching"):
        started = time.monotonic()
        results = [value(1) for _ in range(20)]
        elapsed = time.monotonic() - started
        assert invalidate_tags(["outage"]) == 0  # the write goes on; the entry expires by its TTL
    assert results == [1] * 20
    assert calls == [1] * 21  # computed each time, served
    assert elapsed < 3  # back-off: not 20 socket timeouts
    assert caplog.text.count("cache unavailable") == 1  # once per outage
    assert _errors() > errors_before

    own_redis_server.start()  # an empty Redis on the same port
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="apps.caching"):
        deadline = time.monotonic() + 5
        while get_store().breaker.is_open and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.06)
            value(2)
    assert "cache available again" in caplog.text
    calls.clear()
    value(3), value(3)
    assert calls == [3]
    reset_store()


@pytest.fixture
def dead_redis(settings: Any, namespace: str) -> str:
    """Every cache (the token cache, `@cached`, the response cache) pointed at a port nobody listens on."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = redis_cache_settings(url, namespace)
    return url


@pytest.mark.django_db
@pytest.mark.usefixtures("dead_redis")
def test_token_writes_keep_their_actor_while_redis_is_down(client: Client, accent_auth: Any) -> None:
    headers = {"HTTP_X_AUTH_TOKEN": accent_auth.login("alice")}
    created = client.post(
        "/api/v1/documents/", json.dumps({"title": "written in an outage"}), content_type="application/json", **headers
    )
    assert created.status_code == 201, created.content
    document_id = created.json()["id"]
    body = json.dumps({"title": "renamed"})
    updated = client.patch(f"/api/v1/documents/{document_id}/", body, content_type="application/json", **headers)
    assert updated.status_code == 200, updated.content
    document = Document.objects.get(pk=document_id)
    assert (document.created_by, document.updated_by) == (ALICE, ALICE)
    actors = AuditEvent.objects.for_object(Document, document.pk).values_list("action", "actor")
    assert sorted(actors) == [("create", ALICE), ("update", ALICE)]


@pytest.mark.django_db
@pytest.mark.usefixtures("dead_redis")
def test_admin_writes_keep_their_actor_while_redis_is_down() -> None:
    client = client_for(create_staff("ann", perms=["documents.add_document", *VIEW_AND_DELETE], tenants=[ACME]))
    data = {
        "tenant": str(ACME),
        "title": "added in an outage",
        "status": "draft",
        "tags": "[]",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
    }
    assert client.post(reverse("admin:documents_document_add"), data).status_code == 302
    created = Document.objects.get(title="added in an outage")
    assert (created.created_by, created.updated_by) == ("admin:ann", "admin:ann")
    assert AuditEvent.objects.for_object(Document, created.pk).get().actor == "admin:ann"
