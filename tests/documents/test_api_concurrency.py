"""Optimistic concurrency over the documents API: ETags, If-Match under the row lock, and losers with no effect.

- Every single-document response carries the strong ETag of the body it returns.
- `If-Match` on PATCH / DELETE / restore: 412 on another version, 428 when required and missing.
- A request that loses (stale version, row already deleted or restored) writes nothing: no
  stamp, no audit event, no outbox row. The races are real: on PostgreSQL a winner holds its
  transaction open until the losers are seen waiting on the row lock, then commits.
- Twenty read-modify-write clients against gunicorn lose none of their appends.
"""

from __future__ import annotations

import datetime
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.core.context import acting_as, in_tenant
from apps.core.models import AuditEvent
from apps.core.versioning import ExpectedVersion, row_version
from apps.documents.models import Document
from apps.documents.services import document_create, document_delete, document_restore, document_update
from apps.events.models import OutboxEvent
from tests.docs_snippets import python_blocks, run_blocks
from tests.documents.test_api import ACME, ALICE, URL, Api, create, problem
from tests.processes import clean_env, manage, server_database
from tests.races import at_once, race
from tests.security.conftest import gunicorn


class ConditionalApi(Api):
    """`Api` whose writes can send conditional headers (`If-Match="..."` → `HTTP_IF_MATCH`)."""

    def patch(self, path: str, body: Any, **extra: Any) -> Any:
        return self.client.patch(path, body, content_type="application/json", **self.headers, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self.client.delete(path, **self.headers, **extra)

    def get(self, path: str, **extra: Any) -> Any:
        return self.client.get(path, **self.headers, **extra)


@pytest.fixture
def root(client: Client, accent_auth: Any) -> ConditionalApi:
    """Every ACL (delete included), acting in acme."""
    return ConditionalApi(client, accent_auth.login("root"), tenant=ACME)


def etag_of(body: dict[str, Any]) -> str:
    """The ETag a document body must come with: its row version, quoted (strong)."""
    updated_at = datetime.datetime.fromisoformat(body["updated_at"])
    return f'"{row_version(uuid.UUID(body["id"]), updated_at)}"'


def effects(document_id: str) -> tuple[int, int, Any]:
    """What a write leaves behind: audit events and outbox rows of the document, and its update stamp."""
    audit = AuditEvent.objects.for_object(Document, document_id).count()
    outbox = OutboxEvent.objects.filter(aggregate_id=str(document_id)).count()
    return audit, outbox, Document.all_objects.filter(pk=document_id).values_list("updated_at", "deleted_at").get()


def detail(document_id: str) -> str:
    return f"{URL}{document_id}/"


# --- ETags ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_single_document_response_carries_the_etag_of_its_body(root: ConditionalApi) -> None:
    created = root.post(URL, {"title": "Tagged"})
    assert created.status_code == 201
    assert created["ETag"] == etag_of(created.json())
    document_id = created.json()["id"]

    first_read, cached_read = root.get(detail(document_id)), root.get(detail(document_id))
    assert first_read["ETag"] == cached_read["ETag"] == created["ETag"]  # the cached read too

    patched = root.patch(detail(document_id), {"body": "new"}, HTTP_IF_MATCH=created["ETag"])
    assert patched.status_code == 200, patched.content
    assert patched["ETag"] == etag_of(patched.json()) != created["ETag"]
    assert root.get(detail(document_id))["ETag"] == patched["ETag"]  # the cached read followed the write

    assert root.delete(detail(document_id), HTTP_IF_MATCH=patched["ETag"]).status_code == 204
    restored = root.post(f"{detail(document_id)}restore/", HTTP_IF_MATCH=patched["ETag"])
    assert restored.status_code == 200, restored.content
    # Delete and restore change no field the body shows: the restored document is the version it was.
    assert restored["ETag"] == etag_of(restored.json()) == patched["ETag"]


@pytest.mark.django_db
def test_if_none_match_with_the_current_etag_is_a_304(root: ConditionalApi) -> None:
    document = create(root, "Polled")
    current = root.get(detail(document["id"]))["ETag"]
    unchanged = root.get(detail(document["id"]), HTTP_IF_NONE_MATCH=f'"older", W/{current}')
    assert (unchanged.status_code, unchanged.content, unchanged["ETag"]) == (304, b"", current)
    assert root.get(detail(document["id"]), HTTP_IF_NONE_MATCH='"older"').status_code == 200


# --- If-Match -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("if_match", ['"stale"', "W/{current}", "not-an-etag"], ids=["stale", "weak", "malformed"])
def test_a_write_with_another_version_is_a_412_and_has_no_effect(root: ConditionalApi, if_match: str) -> None:
    document = create(root, "Guarded")
    path = detail(document["id"])
    header = if_match.format(current=root.get(path)["ETag"])
    before = effects(document["id"])

    for response in (
        root.patch(path, {"body": "lost"}, HTTP_IF_MATCH=header),
        root.delete(path, HTTP_IF_MATCH=header),
    ):
        assert problem(response, 412)["code"] == "precondition_failed"
    assert effects(document["id"]) == before
    assert root.delete(path).status_code == 204
    before = effects(document["id"])
    assert problem(root.post(f"{path}restore/", HTTP_IF_MATCH=header), 412)["code"] == "precondition_failed"
    assert effects(document["id"]) == before


@pytest.mark.django_db
def test_if_match_with_the_current_etag_or_a_star_lets_the_write_through(root: ConditionalApi) -> None:
    document = create(root, "Current")
    path = detail(document["id"])
    current = root.get(path)["ETag"]
    patched = root.patch(path, {"body": "one"}, HTTP_IF_MATCH=f'"older", {current}')
    assert patched.status_code == 200
    assert root.patch(path, {"body": "two"}, HTTP_IF_MATCH="*").status_code == 200
    assert root.delete(path, HTTP_IF_MATCH="*").status_code == 204


@pytest.mark.django_db
def test_a_missing_if_match_is_a_428_when_the_setting_requires_it(
    root: ConditionalApi, settings: SettingsWrapper
) -> None:
    document = create(root, "Required")
    path = detail(document["id"])
    settings.API_REQUIRE_IF_MATCH = True
    before = effects(document["id"])
    for response in (
        root.patch(path, {"body": "blind"}),
        root.delete(path),
        root.post(f"{path}restore/"),
    ):
        body = problem(response, 428)
        assert body["code"] == "precondition_required"
        assert "If-Match" in body["detail"]
    assert effects(document["id"]) == before
    assert root.patch(path, {"body": "seen"}, HTTP_IF_MATCH=root.get(path)["ETag"]).status_code == 200
    assert root.get(path).status_code == 200  # reads never need it


# --- losers have no effect, one request after the other (every database) ------------------------


@pytest.mark.django_db
def test_deleting_a_deleted_document_is_a_404_with_no_effect(root: ConditionalApi) -> None:
    document = create(root, "Gone")
    assert root.delete(detail(document["id"])).status_code == 204
    before = effects(document["id"])
    assert problem(root.delete(detail(document["id"])), 404)["code"] == "not_found"
    assert problem(root.patch(detail(document["id"]), {"body": "ghost"}), 404)["code"] == "not_found"
    assert effects(document["id"]) == before


@pytest.mark.django_db
def test_restoring_a_live_document_is_a_404_with_no_effect(root: ConditionalApi) -> None:
    document = create(root, "Alive")
    before = effects(document["id"])
    assert problem(root.post(f"{detail(document['id'])}restore/"), 404)["code"] == "not_found"
    assert effects(document["id"]) == before


# --- losers have no effect, in a real race (PostgreSQL) ----------------------------------------


def statuses(results: list[Any]) -> list[int]:
    return sorted(response.status_code for response in results)


def as_winner(write: Callable[[], Any]) -> Callable[[], None]:
    """`write` as the racing winner: in acme, acting as `winner`."""

    def run() -> None:
        with in_tenant(ACME), acting_as("winner"):
            write()

    return run


@pytest.fixture
def shared_document(postgres: None, transactional_db: None) -> dict[str, Any]:
    """A committed document the racing threads can all see."""
    with in_tenant(ACME), acting_as(ALICE):
        document = document_create(title="Contended")
    return {"id": str(document.pk), "etag": f'"{row_version(document.pk, document.updated_at)}"'}


def _api(accent_auth: Any) -> ConditionalApi:
    return ConditionalApi(Client(), accent_auth.login("root"), tenant=ACME)


def test_of_two_patches_with_the_same_etag_the_second_gets_a_412_and_writes_nothing(
    shared_document: dict[str, Any], accent_auth: Any
) -> None:
    document_id, etag = shared_document["id"], shared_document["etag"]
    api = _api(accent_auth)
    audit, outbox, _ = effects(document_id)

    expected = ExpectedVersion.from_if_match(etag)
    results = race(
        as_winner(
            lambda: document_update(document_id=document_id, changes={"body": "winner"}, expected_version=expected)
        ),
        [lambda: api.patch(detail(document_id), {"body": "loser"}, HTTP_IF_MATCH=etag)],
    )
    assert statuses(results) == [412]
    assert Document.objects.get(pk=document_id).body == "winner"
    assert effects(document_id)[:2] == (audit + 1, outbox + 1)


def test_a_patch_racing_a_delete_that_wins_is_a_404_and_writes_nothing(
    shared_document: dict[str, Any], accent_auth: Any
) -> None:
    document_id = shared_document["id"]
    api = _api(accent_auth)
    audit, outbox, _ = effects(document_id)

    results = race(
        as_winner(lambda: document_delete(document_id=document_id)),
        [lambda: api.patch(detail(document_id), {"body": "too late"}), lambda: api.delete(detail(document_id))],
    )
    assert statuses(results) == [404, 404]
    stored = Document.all_objects.get(pk=document_id)
    assert (stored.body, stored.updated_by, stored.deleted_by) == ("", ALICE, "winner")
    assert effects(document_id)[:2] == (audit + 1, outbox + 1)
    assert OutboxEvent.objects.filter(aggregate_id=document_id, event_type="document.deleted").count() == 1


def test_of_two_restores_the_second_is_a_404_and_writes_nothing(
    shared_document: dict[str, Any], accent_auth: Any
) -> None:
    document_id = shared_document["id"]
    api = _api(accent_auth)
    with in_tenant(ACME):
        document_delete(document_id=document_id)
    audit, outbox, _ = effects(document_id)

    results = race(
        as_winner(lambda: document_restore(document_id=document_id)),
        [lambda: api.post(f"{detail(document_id)}restore/") for _ in range(2)],
    )
    assert statuses(results) == [404, 404]
    assert effects(document_id)[:2] == (audit + 1, outbox + 1)
    assert Counter(AuditEvent.objects.for_object(Document, document_id).values_list("action", flat=True)) == {
        "create": 1,
        "soft_delete": 1,
        "restore": 1,
    }


# --- twenty clients against gunicorn --------------------------------------------------------------

CLIENTS = 20


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, accent_auth_standin: Any) -> Iterator[dict[str, Any]]:
    """gunicorn on its own migrated database: 2 workers x 8 threads sharing Redis, or 1 x 8 without.

    The local-memory cache is per process: a worker would keep serving the detail (and ETag) it
    cached after another worker's write, so the embedded default runs one worker.
    """
    accent_auth_standin.reset()
    login = httpx.post(f"{accent_auth_standin.url}/token", auth=("root", "root"), json={"expiration": 3600})
    token = login.json()["data"]["token"]
    with server_database(tmp_path_factory.mktemp("concurrency"), "concurrency") as database_url:
        variables = {"DATABASE_URL": database_url, "ACCENT_AUTH_URL": accent_auth_standin.url}
        variables["RATE_LIMIT_ENABLED"] = "false"
        workers = 1
        if os.environ.get("REDIS_URL"):
            variables["REDIS_URL"] = os.environ["REDIS_URL"]
            workers = 2
        migrated = manage("migrate", "--noinput", env=clean_env(**variables), timeout=180)
        assert migrated.returncode == 0, migrated.stderr
        with gunicorn(workers=workers, threads=8, settings_module="project.settings", **variables) as base_url:
            yield {"base_url": base_url, "headers": {"X-Auth-Token": token, "Accent-Tenant": str(ACME)}}


def documented_client() -> Callable[[httpx.Client, str, str], int]:
    """docs/api.md's read-modify-write client (`append_tag`), run as the docs show it."""
    (block,) = [block for block in python_blocks("api.md") if "def append_tag" in block]
    append_tag: Callable[[httpx.Client, str, str], int] = run_blocks("api.md", [block])["append_tag"]
    return append_tag


def test_twenty_read_modify_write_clients_with_if_match_lose_no_append(served: dict[str, Any]) -> None:
    with httpx.Client(base_url=served["base_url"], headers=served["headers"], timeout=30) as http:
        created = http.post(URL, json={"title": f"Shared {uuid.uuid4().hex[:6]}"})
        assert created.status_code == 201, created.text
        path = f"{URL}{created.json()['id']}/"
    append_tag = documented_client()
    attempts: list[int] = []
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        with httpx.Client(base_url=served["base_url"], headers=served["headers"], timeout=30) as http:
            start.wait(timeout=30)
            attempts.append(append_tag(http, path, f"client-{number}"))

    errors = at_once(client, CLIENTS)
    assert not errors, errors[:3]
    with httpx.Client(base_url=served["base_url"], headers=served["headers"], timeout=30) as http:
        final = http.get(path).json()
    assert sorted(final["tags"]) == sorted(f"client-{n}" for n in range(CLIENTS))
    assert len(attempts) == CLIENTS
    assert sum(attempts) > CLIENTS  # they really raced: some writes met a 412 and were retried
