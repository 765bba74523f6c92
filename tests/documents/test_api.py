"""The documents API over the real stack: Accent-Auth tokens (stand-in over HTTP), ACLs, tenancy, errors."""

from __future__ import annotations

import copy
import datetime
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.caching.store import get_store, reset_store
from apps.core.models import AuditEvent
from apps.documents.models import Document
from tests.docs_snippets import DOCS

pytestmark = pytest.mark.django_db

ACME = uuid.UUID("00000000-0000-4000-8000-00000000000a")
GLOBEX = uuid.UUID("00000000-0000-4000-8000-00000000000b")
ALICE = "00000000-0000-4000-9000-00000000000a"
URL = "/api/v1/documents/"


class Api:
    """A test client that authenticates as one stand-in user."""

    def __init__(self, client: Client, token: str, tenant: uuid.UUID | None = None) -> None:
        self.client = client
        self.headers: dict[str, Any] = {"HTTP_X_AUTH_TOKEN": token}
        if tenant:
            self.headers["HTTP_ACCENT_TENANT"] = str(tenant)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, **self.headers)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.client.post(path, json.dumps(body), content_type="application/json", **self.headers, **extra)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(path, json.dumps(body), content_type="application/json", **self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, **self.headers)


@pytest.fixture
def alice(client: Client, accent_auth: Any) -> Api:
    """acme tenant; documents.# except delete."""
    return Api(client, accent_auth.login("alice"))


@pytest.fixture
def bob(client: Client, accent_auth: Any) -> Api:
    """globex tenant; read only."""
    return Api(client, accent_auth.login("bob"))


@pytest.fixture
def root_in_acme(client: Client, accent_auth: Any) -> Api:
    """master tenant, every ACL, acting in the acme sub-tenant."""
    return Api(client, accent_auth.login("root"), tenant=ACME)


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def create(api: Api, title: str, **fields: Any) -> dict[str, Any]:
    response = api.post(URL, {"title": title, **fields})
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def test_create_returns_the_document_with_audit_stamps_and_location(alice: Api) -> None:
    response = alice.post(URL, {"title": "Q3 report", "body": "text", "tags": ["finance"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"].endswith(f"{URL}{body['id']}/")
    assert uuid.UUID(body["id"]).version == 7
    assert (body["title"], body["status"], body["tags"]) == ("Q3 report", "draft", ["finance"])
    assert (body["created_by"], body["updated_by"]) == (ALICE, ALICE)
    document = Document.objects.get(pk=body["id"])
    assert document.tenant_id == ACME
    event = AuditEvent.objects.for_object(Document, document.pk).get()
    assert (event.action, event.actor, event.tenant_id) == ("create", ALICE, ACME)


def test_validation_errors_are_problems_with_per_field_messages(alice: Api) -> None:
    body = problem(alice.post(URL, {"title": "", "status": "lost", "tags": ["x" * 51]}), 400)
    assert set(body["errors"]) == {"title", "status", "tags"}
    assert body["code"] == "invalid"
    assert Document.all_objects.count() == 0


def test_malformed_json_and_unsupported_media_types(alice: Api) -> None:
    malformed = alice.client.post(URL, "{not json", content_type="application/json", **alice.headers)
    assert problem(malformed, 400)["code"] == "malformed_request"
    form = alice.client.post(URL, "title=x", content_type="application/x-www-form-urlencoded", **alice.headers)
    assert problem(form, 415)["code"] == "unsupported_media_type"


def test_duplicate_titles_conflict_but_a_deleted_title_can_be_reused(alice: Api, root_in_acme: Api) -> None:
    first = create(alice, "Roadmap")
    assert problem(alice.post(URL, {"title": "Roadmap"}), 409)["errors"] == {"title": ["Already in use."]}
    assert root_in_acme.delete(f"{URL}{first['id']}/").status_code == 204
    create(alice, "Roadmap")
    assert problem(root_in_acme.post(f"{URL}{first['id']}/restore/"), 409)["code"] == "conflict"


def test_retrieve_update_and_not_found(alice: Api) -> None:
    document = create(alice, "Draft plan")
    detail = alice.get(f"{URL}{document['id']}/")
    assert detail.status_code == 200
    assert detail.json() == document
    patched = alice.patch(f"{URL}{document['id']}/", {"status": "published"})
    assert patched.status_code == 200, patched.content
    assert patched.json()["status"] == "published"
    assert alice.get(f"{URL}{document['id']}/").json()["status"] == "published"
    assert problem(alice.get(f"{URL}{uuid.uuid4()}/"), 404)["code"] == "not_found"
    assert problem(alice.get(f"{URL}not-a-uuid/"), 404)["code"] == "not_found"
    unknown_field = problem(alice.patch(f"{URL}{document['id']}/", {"tenant_id": str(GLOBEX)}), 400)
    assert unknown_field["errors"] == {"tenant_id": ["Unknown or read-only field."]}


def test_update_to_a_taken_title_conflicts(alice: Api) -> None:
    create(alice, "One")
    two = create(alice, "Two")
    assert problem(alice.patch(f"{URL}{two['id']}/", {"title": "One"}), 409)["code"] == "conflict"
    assert alice.get(f"{URL}{two['id']}/").json()["title"] == "Two"


def test_another_tenants_document_is_not_found_never_shown(alice: Api, bob: Api) -> None:
    secret = create(alice, "acme secret")
    assert problem(bob.get(f"{URL}{secret['id']}/"), 404)["code"] == "not_found"
    assert bob.get(URL).json()["results"] == []
    assert alice.get(URL).json()["results"][0]["id"] == secret["id"]


def test_acls_are_enforced_per_method(alice: Api, bob: Api) -> None:
    document = create(alice, "guarded")
    denied = problem(alice.delete(f"{URL}{document['id']}/"), 403)
    assert denied["errors"] == {"required_acl": [f"documents.{document['id']}.delete"]}
    assert problem(bob.post(URL, {"title": "nope"}), 403)["errors"] == {"required_acl": ["documents.create"]}


def test_missing_or_unknown_token_is_401(client: Client, accent_auth: Any) -> None:
    assert problem(client.get(URL), 401)["code"] == "not_authenticated"
    assert problem(client.get(URL, HTTP_X_AUTH_TOKEN=str(uuid.uuid4())), 401)["code"] == "not_authenticated"


def test_delete_and_restore_round_trip(root_in_acme: Api, alice: Api) -> None:
    document = create(alice, "temporary")
    assert root_in_acme.delete(f"{URL}{document['id']}/").status_code == 204
    assert problem(alice.get(f"{URL}{document['id']}/"), 404)
    assert problem(root_in_acme.delete(f"{URL}{document['id']}/"), 404)
    restored = root_in_acme.post(f"{URL}{document['id']}/restore/")
    assert restored.status_code == 200, restored.content
    assert restored.json()["id"] == document["id"]
    assert alice.get(f"{URL}{document['id']}/").status_code == 200
    assert problem(root_in_acme.post(f"{URL}{document['id']}/restore/"), 404)


def test_list_pages_forward_and_backward_with_cursors(alice: Api) -> None:
    titles = [f"doc {index:02d}" for index in range(7)]
    for title in titles:
        create(alice, title)
    first = alice.get(URL, ordering="title", limit=3).json()
    assert [d["title"] for d in first["results"]] == titles[:3]
    assert first["previous"] is None
    second = alice.get(URL, ordering="title", limit=3, cursor=first["next_cursor"]).json()
    third = alice.get(URL, ordering="title", limit=3, cursor=second["next_cursor"]).json()
    assert [d["title"] for d in third["results"]] == titles[6:]
    assert third["next"] is None
    back = alice.get(URL, ordering="title", limit=3, cursor=third["previous_cursor"]).json()
    assert back["results"] == second["results"]
    assert "cursor=" in second["next"]
    assert "ordering=title" in second["next"]


def test_default_order_is_newest_first(alice: Api) -> None:
    for index in range(3):
        create(alice, f"n{index}")
    assert [d["title"] for d in alice.get(URL).json()["results"]] == ["n2", "n1", "n0"]


def test_bad_list_parameters_are_400_problems(alice: Api) -> None:
    create(alice, "a")
    create(alice, "b")
    cursor = alice.get(URL, limit=1).json()["next_cursor"]
    tampered = cursor[:-3] + ("xyz" if not cursor.endswith("xyz") else "abc")
    assert problem(alice.get(URL, cursor=tampered), 400)["errors"]["cursor"]
    assert problem(alice.get(URL, cursor=cursor, ordering="title"), 400)["code"] == "invalid"
    assert problem(alice.get(URL, ordering="tenant_id"), 400)["errors"] == {
        "ordering": ["Unknown ordering field: tenant_id"]
    }
    assert problem(alice.get(URL, limit="zero"), 400)["errors"]["limit"]
    assert problem(alice.get(URL, limit=100000), 400)["errors"]["limit"]
    assert problem(alice.get(URL, status="lost"), 400)["errors"]["status"]
    assert problem(alice.get(URL, created_after="yesterday"), 400)["errors"]["created_after"]


def test_filters_by_status_tag_and_search(alice: Api) -> None:
    create(alice, "Budget 2027", status="published", tags=["finance", "plan"])
    create(alice, "Team offsite", tags=["people"])
    assert [d["title"] for d in alice.get(URL, status="published").json()["results"]] == ["Budget 2027"]
    assert [d["title"] for d in alice.get(URL, tag="people").json()["results"]] == ["Team offsite"]
    assert [d["title"] for d in alice.get(URL, q="budget").json()["results"]] == ["Budget 2027"]


def test_offset_pages_with_total(alice: Api) -> None:
    for index in range(5):
        create(alice, f"o{index}")
    page = alice.get(URL, offset=1, limit=2, total="true", ordering="title").json()
    assert [d["title"] for d in page["results"]] == ["o1", "o2"]
    assert (page["total"], page["offset"], page["limit"]) == (5, 1, 2)
    assert "offset=3" in page["next"]


def test_list_query_count_is_constant_in_page_size(alice: Api) -> None:
    for index in range(30):
        create(alice, f"q{index:02d}")
    counts = []
    for limit in (5, 30):
        with CaptureQueriesContext(connection) as queries:
            assert len(alice.get(URL, limit=limit).json()["results"]) == limit
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1] <= 3


def test_list_items_have_the_same_shape_as_the_detail(alice: Api) -> None:
    created = create(alice, "shape", tags=["a"])
    assert alice.get(URL).json()["results"][0] == alice.get(f"{URL}{created['id']}/").json() == created


ISO_UTC_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z")


def test_list_items_round_trip_tricky_text_empty_tags_and_timestamps(alice: Api) -> None:
    """PostgreSQL renders list rows itself: they must still equal the detail and create output."""
    created = [
        create(alice, 'quotes "q" \\ back\\slash', body="line\nbreak\ttab \x01 </script>", tags=[]),
        create(alice, "unicode é ✓ 😀", body="", tags=["ünï", 'q"t']),
    ]
    listed = {item["id"]: item for item in alice.get(URL).json()["results"]}
    for document in created:
        assert listed[document["id"]] == alice.get(f"{URL}{document['id']}/").json() == document
        assert ISO_UTC_Z.fullmatch(listed[document["id"]]["created_at"])
        assert ISO_UTC_Z.fullmatch(listed[document["id"]]["updated_at"])
    assert listed[created[0]["id"]]["tags"] == []


def test_whole_second_timestamps_are_written_without_a_fraction(alice: Api) -> None:
    created = create(alice, "whole second")
    moment = datetime.datetime(2026, 11, 26, 11, 5, 42, tzinfo=datetime.UTC)
    Document.objects.filter(pk=created["id"]).update(created_at=moment, updated_at=moment.replace(microsecond=100))
    item = alice.get(URL).json()["results"][0]
    assert (item["created_at"], item["updated_at"]) == ("2026-11-26T11:05:42Z", "2026-11-26T11:05:42.000100Z")
    assert item == alice.get(f"{URL}{created['id']}/").json()


@pytest.fixture
def private_cache(settings: Any) -> Iterator[None]:
    """The cache under a KEY_PREFIX of this test's own (the suite may share a Redis), removed afterwards."""
    prefix = f"test-documents-{uuid.uuid4().hex[:12]}"
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = prefix
    settings.CACHES = caches
    reset_store()
    try:
        yield
    finally:
        client = getattr(get_store(), "client", None)
        if client is not None:
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                client.unlink(key)
        reset_store()


@pytest.mark.usefixtures("private_cache")
def test_a_list_page_served_from_the_cache_is_the_same_bytes(
    alice: Api, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the writes commit: their invalidations run
        for index in range(3):
            create(alice, f"c{index}", tags=["t"])
    with django_capture_on_commit_callbacks(execute=True):  # the cache stores at commit
        first = alice.get(URL, limit=2)
    with CaptureQueriesContext(connection) as queries:
        again = alice.get(URL, limit=2)
    assert not [query for query in queries.captured_queries if "documents_document" in query["sql"]]
    assert again.content == first.content
    assert first.json()["next_cursor"]


def test_bulk_upsert_reports_created_and_updated(alice: Api) -> None:
    rows = [{"title": "u1", "body": "one"}, {"title": "u2", "status": "published"}]
    first = alice.post(f"{URL}bulk-upsert/", {"documents": rows})
    assert first.status_code == 200, first.content
    assert first.json() == {"created": 2, "updated": 0}
    again = alice.post(f"{URL}bulk-upsert/", {"documents": [{"title": "u1", "body": "changed"}, {"title": "u3"}]})
    assert again.json() == {"created": 1, "updated": 1}
    u1 = Document.objects.get(title="u1")
    assert (u1.body, u1.tenant_id, u1.created_by, u1.updated_by) == ("changed", ACME, ALICE, ALICE)
    invalid = problem(alice.post(f"{URL}bulk-upsert/", {"documents": [{"body": "no title"}]}), 400)
    assert "documents" in invalid["errors"]
    assert problem(alice.post(f"{URL}bulk-upsert/", {"documents": []}), 400)


def test_unknown_api_urls_are_problems(alice: Api) -> None:
    assert problem(alice.get("/api/v1/nothing-here/"), 404)["instance"] == "/api/v1/nothing-here/"


def test_the_documented_problem_example_has_the_real_shape(alice: Api) -> None:
    documented = json.loads(
        re.search(r"## Errors.*?```json\n(.*?)```", (DOCS / "api.md").read_text(), flags=re.DOTALL).group(1)  # type: ignore[union-attr]
    )
    actual = problem(alice.get(URL, ordering="password"), 400)
    assert set(actual) == set(documented)
    assert {key: actual[key] for key in ("title", "status", "code", "errors")} == {
        key: documented[key] for key in ("title", "status", "code", "errors")
    }
    assert actual["detail"] == documented["detail"]


def test_the_openapi_schema_declares_the_token_scheme_for_the_api(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["components"]["securitySchemes"]["AccentAuthToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
        "description": "An Accent-Auth token (`Authorization: Bearer <token>` is accepted too).",
    }
    assert {"AccentAuthToken": []} in schema["paths"]["/api/v1/documents/"]["get"]["security"]


def test_non_canonical_ids_and_bad_parameters_are_4xx_never_500(alice: Api, root_in_acme: Api) -> None:
    document = create(alice, "canonical")
    assert problem(alice.get(f"{URL}{document['id'].upper()}/"), 404)["code"] == "not_found"
    assert problem(root_in_acme.post(f"{URL}not-a-uuid/restore/"), 404)["code"] == "not_found"
    assert problem(alice.get(URL, offset=0, ordering="--title"), 400)["code"] == "invalid"
    out_of_range = problem(alice.get(URL, created_after="0001-01-01T00:00:00+01:00"), 400)
    assert out_of_range["errors"]["created_after"] == ["This date and time is out of range."]


@pytest.mark.django_db(transaction=True)
def test_admin_writes_drop_the_cached_document_reads(client: Client, accent_auth: Any) -> None:
    api = Api(client, accent_auth.login("alice"))
    document = create(api, "cached then edited in the admin")
    try:
        assert api.get(f"{URL}{document['id']}/").status_code == 200  # now cached
        Document.objects.get(pk=document["id"]).delete()  # as the admin does, through the model
        assert problem(api.get(f"{URL}{document['id']}/"), 404)
    finally:
        Document.all_objects.all().hard_delete()
