"""An admin edit, delete or restore emits the same event and drops the same cached reads as the API's write.

Real PostgreSQL (or SQLite) and the real cache: the API's GET after the admin's write serves
the new row, because the admin's commit invalidated the cached one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.caching.invalidation import invalidate_tags
from apps.core import side_effects
from apps.core.context import acting_as, in_tenant
from apps.documents.models import Document
from apps.events.models import OutboxEvent
from tests.admin.conftest import RESTORE, VIEW_AND_DELETE, client_for, create_staff

pytestmark = pytest.mark.django_db(transaction=True)  # the invalidation runs at a real commit

URL = "/api/v1/documents/"
ACME = uuid.UUID("00000000-0000-4000-8000-00000000000a")  # the stand-in's tenant of alice and root


class Recorder:
    """The tags each write asked `apps.caching` to invalidate; the real invalidation runs too."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, tags: Iterable[str], *, using: str) -> int:
        tags = list(tags)
        self.calls.append(tags)
        return invalidate_tags(tags, using=using)

    def take(self) -> list[list[str]]:
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def invalidated() -> Iterator[Recorder]:
    recorder = Recorder()
    side_effects.plug_invalidator(recorder)
    try:
        yield recorder
    finally:
        side_effects.plug_invalidator(invalidate_tags)


@pytest.fixture(autouse=True)
def _outbox_only(settings: SettingsWrapper) -> Iterator[None]:
    settings.EVENTS_RELAY_ON_COMMIT = False  # the outbox is what is compared; nobody consumes it
    yield
    Document.all_objects.all().hard_delete()  # a shared cache keeps nothing stale


class Api:
    def __init__(self, token: str) -> None:
        self.client = Client()
        self.headers = {"HTTP_X_AUTH_TOKEN": token, "HTTP_ACCENT_TENANT": str(ACME)}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body) if body is not None else ""
        return getattr(self.client, method)(path, data, content_type="application/json", **self.headers)


def last_event() -> tuple[str, str, dict[str, Any]]:
    row = OutboxEvent.objects.order_by("-occurred_at", "-id").values_list("event_type", "aggregate_id", "payload")[0]
    return row[0], row[1], dict(row[2])


def change_form(title: str) -> dict[str, str]:
    return {
        "title": title,
        "body": "",
        "status": "draft",
        "tags": "[]",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
    }


def test_an_admin_edit_emits_the_event_and_invalidation_of_the_apis_patch(
    accent_auth: Any, invalidated: Recorder
) -> None:
    api = Api(accent_auth.login("root"))
    created = api.call("post", URL, {"title": "Edited twice"})
    assert created.status_code == 201, created.content
    document_id = created.json()["id"]
    detail = f"{URL}{document_id}/"
    assert api.call("get", detail).json()["title"] == "Edited twice"  # now cached
    invalidated.take()

    assert api.call("patch", detail, {"title": "Edited by the API"}).status_code == 200
    api_event, api_tags = last_event(), invalidated.take()

    admin = client_for(create_staff("ann", perms=VIEW_AND_DELETE, tenants=[ACME]))
    url = reverse("admin:documents_document_change", args=[document_id])
    assert admin.post(url, change_form("Edited in the admin")).status_code == 302
    admin_event, admin_tags = last_event(), invalidated.take()

    assert api_event == admin_event == ("document.updated", document_id, {"fields": ["title"]})
    assert admin_tags == api_tags == [["documents:lists", f"document:{document_id}"]]
    assert api.call("get", detail).json()["title"] == "Edited in the admin", "the cached detail was dropped"
    actors = OutboxEvent.objects.filter(event_type="document.updated").values_list("actor", "tenant_id")
    assert list(actors.order_by("occurred_at"))[-1] == ("admin:ann", ACME)


def test_admin_delete_and_restore_emit_what_the_api_does(accent_auth: Any, invalidated: Recorder) -> None:
    api = Api(accent_auth.login("root"))
    by_api = api.call("post", URL, {"title": "Deleted by the API"}).json()["id"]
    by_admin = api.call("post", URL, {"title": "Deleted in the admin"}).json()["id"]
    assert api.call("get", f"{URL}{by_admin}/").status_code == 200  # cached
    invalidated.take()

    assert api.call("delete", f"{URL}{by_api}/").status_code == 204
    api_deleted, api_tags = last_event(), invalidated.take()
    admin = client_for(create_staff("ann", perms=VIEW_AND_DELETE + RESTORE, tenants=[ACME]))
    delete_url = reverse("admin:documents_document_delete", args=[by_admin])
    assert admin.post(delete_url, {"post": "yes"}).status_code == 302
    admin_deleted, admin_tags = last_event(), invalidated.take()

    batch = str(Document.all_objects.get(pk=by_admin).delete_batch)
    assert (api_deleted[0], list(api_deleted[2])) == ("document.deleted", ["delete_batch"])
    assert admin_deleted == ("document.deleted", by_admin, {"delete_batch": batch})
    assert api_tags == [["documents:lists", f"document:{by_api}"]]
    assert admin_tags == [["documents:lists", f"document:{by_admin}"]]
    assert api.call("get", f"{URL}{by_admin}/").status_code == 404, "the cached detail was dropped"

    assert api.call("post", f"{URL}{by_api}/restore/").status_code == 200
    api_restored = last_event()
    restore_url = reverse("admin:documents_document_restore", args=[by_admin])
    assert admin.post(restore_url, {"post": "yes"}).status_code == 302
    assert (api_restored, last_event()) == (
        ("document.restored", by_api, {}),
        ("document.restored", by_admin, {}),
    )
    assert invalidated.take()[-1] == ["documents:lists", f"document:{by_admin}"]
    assert api.call("get", f"{URL}{by_admin}/").status_code == 200


def test_the_changelist_actions_emit_one_event_per_document(invalidated: Recorder) -> None:
    with in_tenant(ACME), acting_as("script:seed"):
        documents = [Document.objects.create(title=f"Selected {n}") for n in range(2)]
    ids = sorted(str(document.pk) for document in documents)
    OutboxEvent.objects.all().delete()
    invalidated.take()
    admin = client_for(create_staff("ann", perms=VIEW_AND_DELETE + RESTORE, tenants=[ACME]))
    changelist = reverse("admin:documents_document_changelist")

    selected = {"action": "delete_selected", "_selected_action": ids, "post": "yes"}
    assert admin.post(changelist, selected).status_code == 302
    deleted = OutboxEvent.objects.filter(event_type="document.deleted")
    assert sorted(deleted.values_list("aggregate_id", flat=True)) == ids
    batch = str(Document.all_objects.get(pk=ids[0]).delete_batch)
    assert {row.payload["delete_batch"] for row in deleted} == {batch}, "one set-based delete, one batch"
    assert sorted(invalidated.take()[0]) == sorted(["documents:lists", *(f"document:{pk}" for pk in ids)])

    selected = {"action": "restore_selected", "_selected_action": ids, "post": "yes"}
    assert admin.post(f"{changelist}?state=deleted", selected).status_code == 302
    restored = OutboxEvent.objects.filter(event_type="document.restored")
    assert sorted(restored.values_list("aggregate_id", flat=True)) == ids
    assert all(actor == "admin:ann" for actor in OutboxEvent.objects.values_list("actor", flat=True))
