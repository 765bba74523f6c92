"""POST /api/v1/documents/bulk-upsert/: omitted fields are kept, concurrent calls never fail with 5xx."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from apps.core.models import AuditEvent
from apps.documents.models import Document
from tests.core.test_upsert import run_together
from tests.documents.test_api import ACME, URL, Api, problem
from tests.races import wait_until_a_backend_waits_for_a_lock

pytestmark = pytest.mark.django_db
UPSERT = f"{URL}bulk-upsert/"


@pytest.fixture
def alice(client: Client, accent_auth: Any) -> Api:
    """acme tenant; documents.# except delete."""
    return Api(client, accent_auth.login("alice"))


def document(title: str) -> dict[str, Any]:
    found = Document.objects.get(title=title)
    return {"body": found.body, "status": found.status, "tags": found.tags}


def test_a_row_that_omits_fields_leaves_them_as_they_are(alice: Api) -> None:
    created = alice.post(URL, {"title": "kept", "body": "b0", "status": "published", "tags": ["t0"]})
    assert created.status_code == 201, created.content
    first = alice.post(UPSERT, {"documents": [{"title": "kept", "body": "b1"}, {"title": "fresh"}]})
    assert first.status_code == 200, first.content
    assert first.json() == {"created": 1, "updated": 1}
    assert document("kept") == {"body": "b1", "status": "published", "tags": ["t0"]}
    assert document("fresh") == {"body": "", "status": "draft", "tags": []}, "defaults, on insert only"
    second = alice.post(UPSERT, {"documents": [{"title": "kept", "tags": []}, {"title": "kept", "status": "archived"}]})
    assert second.json() == {"created": 0, "updated": 1}
    assert document("kept") == {"body": "b1", "status": "archived", "tags": []}, "rows of one key merge"
    last = AuditEvent.objects.for_object(Document, created.json()["id"]).first()
    assert last is not None
    assert last.changes == {"status": ["published", "archived"], "tags": [["t0"], []]}


def test_bad_rows_are_problems_and_write_nothing(alice: Api) -> None:
    for rows in ([{"title": None}], [{"title": "ok"}, {"body": "no title"}], [{"title": "t", "tags": "not-a-list"}]):
        body = problem(alice.post(UPSERT, {"documents": rows}), 400)
        assert "documents" in body["errors"]
    assert not Document.all_objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_upserts_in_opposite_orders_all_succeed(postgres: None, accent_auth: Any) -> None:
    token = accent_auth.login("alice")
    titles = [f"doc {index:02d}" for index in range(30)]
    statuses: list[int] = []

    def post_repeatedly(index: int) -> None:
        api = Api(Client(), token)
        ordered = titles if index % 2 == 0 else titles[::-1]
        for round_number in range(10):
            rows = [{"title": title, "body": f"w{index}-{round_number}"} for title in ordered]
            response = api.post(UPSERT, {"documents": rows})
            statuses.append(response.status_code)

    assert run_together(2, post_repeatedly) == []
    assert statuses == [200] * 20, statuses
    assert sorted(Document.objects.values_list("title", flat=True)) == titles


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_with_another_writer_is_retried_not_answered_with_an_error(postgres: None, accent_auth: Any) -> None:
    """Another session locks `b`, the upsert locks `a` and waits for `b`, the session then wants `a`:
    PostgreSQL aborts the upsert's statement (the older waiter); its savepoint is rolled back and it retries."""
    for title in ("a", "b"):
        Document.objects.create(tenant_id=ACME, title=title, body="old")
    token = accent_auth.login("alice")
    responses: list[Any] = []

    def upsert() -> None:
        try:
            rows = [{"title": "a", "body": "new"}, {"title": "b", "body": "new"}]
            responses.append(Api(Client(), token).post(UPSERT, {"documents": rows}))
        finally:
            connection.close()

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            other.set_autocommit(False)
            # The victim is the session whose deadlock check runs first: the upsert's (1 s after it began
            # to wait), never this one's, however the two are scheduled on a loaded machine.
            cursor.execute("SET LOCAL deadlock_timeout = '30s'")
            cursor.execute("SELECT id FROM documents_document WHERE title = 'b' FOR UPDATE")
            request = threading.Thread(target=upsert)
            request.start()
            wait_until_a_backend_waits_for_a_lock()
            cursor.execute("SELECT id FROM documents_document WHERE title = 'a' FOR UPDATE")  # the cycle
            other.commit()
        request.join(timeout=60)
    finally:
        other.close()
    [response] = responses
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 0, "updated": 2}
    assert set(Document.objects.values_list("body", flat=True)) == {"new"}
