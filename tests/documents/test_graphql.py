"""`/graphql/` against REST: the same data and tokens give the same answers and the same refusals.

Every test drives both APIs with the stand-in Accent-Auth's real tokens over HTTP, and compares
what GraphQL returns (or refuses, by `extensions.code`) with what REST returns for the same call.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.core.models import AuditEvent
from apps.documents.models import Document
from apps.events.models import OutboxEvent
from tests.documents.test_api import ACME, ALICE, URL, Api, create, problem

pytestmark = pytest.mark.django_db

GRAPHQL = "/graphql/"
FIELDS = "id title body status tags createdAt updatedAt createdBy updatedBy"
LIST = f"""
query List($first: Int!, $after: String, $before: String, $filter: DocumentFilterInput, $ordering: String) {{
  documents(first: $first, after: $after, before: $before, filter: $filter, ordering: $ordering) {{
    edges {{ node {{ {FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}
"""
DETAIL = f"query One($id: ID!) {{ document(id: $id) {{ {FIELDS} etag }} }}"


class Gql:
    """A GraphQL caller with one stand-in user's token (and its REST twin)."""

    def __init__(self, client: Client, token: str | None, tenant: uuid.UUID | None = None) -> None:
        self.client = client
        self.headers: dict[str, Any] = {"HTTP_X_AUTH_TOKEN": token} if token else {}
        if tenant:
            self.headers["HTTP_ACCENT_TENANT"] = str(tenant)
        self.rest = Api(client, token or "", tenant)

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.client.post(
            GRAPHQL,
            json.dumps({"query": query, "variables": variables}),
            content_type="application/json",
            **self.headers,
        )
        assert response.status_code == 200, response.content  # GraphQL-over-HTTP: errors are in the body
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self(query, **variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The first error of a refused operation: its extensions (code, status, errors), less the request id."""
    error = body["errors"][0]
    assert error["message"]
    extensions: dict[str, Any] = dict(error["extensions"])
    extensions.pop("request_id", None)
    return extensions


def as_rest(node: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL document as REST spells it: snake_case names, the lowercase status."""
    spelled = {re.sub("([A-Z])", r"_\1", name).lower(): value for name, value in node.items()}
    spelled["status"] = spelled["status"].lower()
    spelled.pop("etag", None)
    return spelled


@pytest.fixture
def alice(client: Client, accent_auth: Any) -> Gql:
    """acme; documents.# except delete."""
    return Gql(client, accent_auth.login("alice"))


@pytest.fixture
def bob(client: Client, accent_auth: Any) -> Gql:
    """globex; read only."""
    return Gql(client, accent_auth.login("bob"))


@pytest.fixture
def root_in_acme(client: Client, accent_auth: Any) -> Gql:
    return Gql(client, accent_auth.login("root"), tenant=ACME)


def nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_rest(edge["node"]) for edge in data["documents"]["edges"]]


def test_the_list_and_the_detail_are_the_rest_bodies(alice: Gql) -> None:
    created = [create(alice.rest, f"doc {index}", body="text", tags=["t", str(index)]) for index in range(3)]
    rest = alice.rest.get(URL).json()["results"]
    assert nodes(alice.data(LIST, first=50)) == rest
    assert [document["id"] for document in rest] == [document["id"] for document in reversed(created)]
    detail = alice.rest.get(f"{URL}{created[0]['id']}/")
    one = alice.data(DETAIL, id=created[0]["id"])["document"]
    assert as_rest(one) == detail.json()
    assert one["etag"] == detail["ETag"]


def test_cursor_pages_are_the_rest_pages(alice: Gql) -> None:
    for index in range(7):
        create(alice.rest, f"doc {index:02d}")
    rest_first = alice.rest.get(URL, ordering="title", limit=3).json()
    first = alice.data(LIST, first=3, ordering="title")["documents"]
    assert [as_rest(e["node"]) for e in first["edges"]] == rest_first["results"]
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": rest_first["next_cursor"],
    }
    second = alice.data(LIST, first=3, ordering="title", after=first["pageInfo"]["endCursor"])["documents"]
    rest_second = alice.rest.get(URL, ordering="title", limit=3, cursor=rest_first["next_cursor"]).json()
    assert [as_rest(e["node"]) for e in second["edges"]] == rest_second["results"]
    back = alice.data(LIST, first=3, ordering="title", before=second["pageInfo"]["startCursor"])["documents"]
    assert back["edges"] == first["edges"]


def test_filters_are_the_rest_filters(alice: Gql) -> None:
    create(alice.rest, "Budget 2027", status="published", tags=["finance"])
    create(alice.rest, "Team offsite", tags=["people"])
    for rest_filter, graphql_filter in [
        ({"status": "published"}, {"status": "PUBLISHED"}),
        ({"tag": "people"}, {"tag": "people"}),
        ({"q": "budget"}, {"q": "budget"}),
        ({"created_after": "2000-01-01T00:00:00Z"}, {"createdAfter": "2000-01-01T00:00:00+00:00"}),
        ({"created_before": "2000-01-01T00:00:00Z"}, {"createdBefore": "2000-01-01T00:00:00+00:00"}),
    ]:
        rest = alice.rest.get(URL, **rest_filter).json()["results"]
        assert nodes(alice.data(LIST, first=50, filter=graphql_filter)) == rest, rest_filter


def test_the_filter_input_names_the_rest_filters() -> None:
    from apps.documents.api.graphql import DocumentFilterInput
    from apps.documents.filters import DocumentFilter

    assert set(DocumentFilterInput.__annotations__) == set(DocumentFilter.base_filters)


def test_the_document_type_has_the_rest_fields() -> None:
    from apps.documents.api.graphql import DocumentNode
    from apps.documents.api.serializers import DELETED_DOCUMENT

    assert set(DocumentNode.__annotations__) == {*DELETED_DOCUMENT.fields, "etag"}


def test_bad_list_arguments_are_refused_with_rests_codes(alice: Gql) -> None:
    create(alice.rest, "a")
    ordering = refusal(alice(LIST, first=5, ordering="tenant_id"))
    assert ordering == {
        "code": "invalid",
        "status": 400,
        "errors": problem(alice.rest.get(URL, ordering="tenant_id"), 400)["errors"],
    }
    assert refusal(alice(LIST, first=0))["errors"]["first"]
    assert refusal(alice(LIST, first=10_000))["code"] == "invalid"
    assert refusal(alice(LIST, first=5, after="garbage"))["errors"]["cursor"]
    assert refusal(alice(LIST, first=5, filter={"createdAfter": "yesterday"}))["code"] == "invalid"


def test_the_same_refusals_as_rest(client: Client, accent_auth: Any, alice: Gql, bob: Gql) -> None:
    secret = create(alice.rest, "acme secret")
    nobody = Gql(client, None)
    assert refusal(nobody(LIST, first=5))["code"] == problem(client.get(URL), 401)["code"] == "not_authenticated"
    stranger = Gql(client, str(uuid.uuid4()))
    assert refusal(stranger(DETAIL, id=secret["id"]))["code"] == "not_authenticated"
    # Another tenant's id: not found, as REST; and its list shows nothing of acme's.
    assert refusal(bob(DETAIL, id=secret["id"])) == {"code": "not_found", "status": 404}
    assert problem(bob.rest.get(f"{URL}{secret['id']}/"), 404)["code"] == "not_found"
    assert bob.data(LIST, first=50)["documents"]["edges"] == []
    assert refusal(alice(DETAIL, id="not-a-uuid"))["code"] == "not_found"
    # A missing ACL: permission_denied naming it, as REST.
    create_mutation = 'mutation { createDocument(input: {title: "nope"}) { id } }'
    denied = refusal(bob(create_mutation))
    assert denied == {"code": "permission_denied", "status": 403, "errors": {"required_acl": ["documents.create"]}}
    assert problem(bob.rest.post(URL, {"title": "nope"}), 403)["errors"] == denied["errors"]
    delete = refusal(alice("mutation($id: ID!) { deleteDocument(id: $id) }", id=secret["id"]))
    assert delete["errors"] == {"required_acl": [f"documents.{secret['id']}.delete"]}
    deleted_list = "{ documents(deleted: true) { edges { node { id } } } }"
    assert refusal(bob(deleted_list))["errors"] == {"required_acl": ["documents.deleted.read"]}
    assert Document.objects.filter(title="nope").count() == 0


def test_an_uppercase_id_names_the_acl_as_the_token_does(client: Client, alice: Gql) -> None:
    """`!documents.<id>.delete` must not be escaped by spelling the id in capitals."""
    document = create(alice.rest, "guarded")
    shouted = document["id"].upper()
    denied = refusal(alice("mutation($id: ID!) { deleteDocument(id: $id) }", id=shouted))
    assert denied["errors"] == {"required_acl": [f"documents.{document['id']}.delete"]}
    assert alice.data(DETAIL, id=shouted)["document"]["id"] == document["id"]


def _audit_and_events(document_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    audit = [
        (event.action, event.actor, event.tenant_id)
        for event in AuditEvent.objects.for_object(Document, document_id).order_by("id")
    ]
    events = [
        (row.event_type, row.actor, sorted(row.payload))
        for row in OutboxEvent.objects.filter(aggregate_id=document_id).order_by("occurred_at", "id")
    ]
    return audit, events


def test_mutations_write_what_rest_writes(alice: Gql, root_in_acme: Gql) -> None:
    # REST: create, update, delete, restore one document...
    by_rest = create(alice.rest, "by rest", tags=["x"])
    assert alice.rest.patch(f"{URL}{by_rest['id']}/", {"status": "published"}).status_code == 200
    assert root_in_acme.rest.delete(f"{URL}{by_rest['id']}/").status_code == 204
    assert root_in_acme.rest.post(f"{URL}{by_rest['id']}/restore/").status_code == 200
    # ...and GraphQL the same to another.
    created = alice.data(
        f'mutation {{ createDocument(input: {{title: "by graphql", tags: ["x"]}}) {{ {FIELDS} etag }} }}'
    )["createDocument"]
    assert (created["createdBy"], created["status"], created["tags"]) == (ALICE, "DRAFT", ["x"])
    assert as_rest(created) == alice.rest.get(f"{URL}{created['id']}/").json()
    update = "mutation($id: ID!, $etag: String) { updateDocument(id: $id, input: {status: PUBLISHED}, ifMatch: $etag) "
    updated = alice.data(update + "{ status etag } }", id=created["id"], etag=created["etag"])["updateDocument"]
    assert updated["status"] == "PUBLISHED"
    assert updated["etag"] != created["etag"]
    deleted = root_in_acme.data("mutation($id: ID!) { deleteDocument(id: $id) }", id=created["id"])
    assert deleted == {"deleteDocument": created["id"]}
    assert refusal(alice(DETAIL, id=created["id"]))["code"] == "not_found"
    restore = "mutation($id: ID!) { restoreDocument(id: $id) { id title } }"
    restored = root_in_acme.data(restore, id=created["id"])["restoreDocument"]
    assert restored == {"id": created["id"], "title": "by graphql"}
    rest_audit, rest_events = _audit_and_events(by_rest["id"])
    graphql_audit, graphql_events = _audit_and_events(created["id"])
    assert [a for a, _, _ in rest_audit] == ["create", "update", "soft_delete", "restore"]
    assert graphql_audit == rest_audit
    assert [t for t, _, _ in rest_events] == [
        "document.created",
        "document.updated",
        "document.deleted",
        "document.restored",
    ]
    assert graphql_events == rest_events


def test_write_refusals_carry_rests_codes(alice: Gql, settings: SettingsWrapper) -> None:
    invalid = refusal(alice('mutation { createDocument(input: {title: "", tags: ["' + "x" * 51 + '"]}) { id } }'))
    rest = problem(alice.rest.post(URL, {"title": "", "tags": ["x" * 51]}), 400)
    assert (invalid["code"], invalid["errors"]) == (rest["code"], rest["errors"])
    taken = create(alice.rest, "taken")
    conflict = refusal(alice('mutation { createDocument(input: {title: "taken"}) { id } }'))
    assert conflict == {"code": "conflict", "status": 409, "errors": {"title": ["Already in use."]}}
    update = "mutation($id: ID!, $etag: String) { updateDocument(id: $id, input: {body: 'b'}, ifMatch: $etag) { id } }"
    update = update.replace("'b'", '"b"')
    stale = refusal(alice(update, id=taken["id"], etag='"0000"'))
    assert (
        stale["code"]
        == problem(
            alice.rest.client.patch(
                f"{URL}{taken['id']}/",
                '{"body": "b"}',
                content_type="application/json",
                HTTP_IF_MATCH='"0000"',
                **alice.headers,
            ),
            412,
        )["code"]
    )
    settings.API_REQUIRE_IF_MATCH = True
    assert refusal(alice(update, id=taken["id"]))["code"] == "precondition_required"
    assert Document.objects.get(pk=taken["id"]).body == ""


def test_a_query_beyond_the_limits_is_refused_before_it_runs(
    alice: Gql, settings: SettingsWrapper, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    deep = "{ documents { edges { node { id } } } }"
    assert alice.data(deep)["documents"]["edges"] == []
    settings.GRAPHQL_MAX_DEPTH = 2
    with django_assert_num_queries(0):
        body = alice(deep)
    assert body.get("data") is None
    assert refusal(body) == {"code": "invalid", "status": 400}
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    settings.GRAPHQL_MAX_DEPTH = 6
    settings.GRAPHQL_MAX_ALIASES = 2
    aliases = "{ " + " ".join(f"{name}: documents {{ pageInfo {{ hasNextPage }} }}" for name in "abc") + " }"
    assert refusal(alice(aliases))["code"] == "invalid"
    settings.GRAPHQL_MAX_TOKENS = 10
    assert refusal(alice(deep + " " * 0))["code"] in {"invalid", "malformed_request"}
    assert refusal(alice("{ documents {"))["code"] == "malformed_request"


def test_introspection_follows_its_setting(alice: Gql, settings: SettingsWrapper) -> None:
    query = "{ __schema { queryType { name } } }"
    settings.GRAPHQL_INTROSPECTION = True
    assert alice.data(query) == {"__schema": {"queryType": {"name": "Query"}}}
    settings.GRAPHQL_INTROSPECTION = False
    assert refusal(alice(query))["code"] == "invalid"


def test_graphiql_only_in_debug(client: Client, settings: SettingsWrapper) -> None:
    settings.DEBUG = False
    assert client.get(GRAPHQL, HTTP_ACCEPT="text/html").status_code == 404
    settings.DEBUG = True
    page = client.get(GRAPHQL, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"graphiql" in page.content.lower()


def test_a_bug_is_a_masked_internal_error_never_a_500(alice: Gql, monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.documents.api import graphql

    def broken(document_id: Any) -> Any:
        raise RuntimeError("a secret detail of the bug")

    monkeypatch.setattr(graphql, "document_detail", broken)
    body = alice(DETAIL, id=str(uuid.uuid4()))
    assert refusal(body) == {"code": "internal_error", "status": 500}
    assert "secret" not in json.dumps(body)


def test_a_list_costs_the_same_queries_for_5_items_as_for_50(
    alice: Gql, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for total in (5, 50):
        while Document.objects.count() < total:
            create(alice.rest, f"n{Document.objects.count():02d}")  # each write drops the cached pages
        with CaptureQueriesContext(connection) as queries:
            assert len(alice.data(LIST, first=50)["documents"]["edges"]) == total
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1], counts
    create(alice.rest, "one more")
    with django_assert_num_queries(counts[0]):
        alice.data(LIST, first=50)


def test_served_through_django_asgi_too(alice: Gql) -> None:
    """The ASGI handler (project/asgi.py's `http`) runs the same view, the request's tenant included."""
    create(alice.rest, "over asgi")
    response = async_to_sync(AsyncClient().post)(
        GRAPHQL,
        {"query": "{ documents { edges { node { title } } } }"},
        content_type="application/json",
        headers={"X-Auth-Token": alice.headers["HTTP_X_AUTH_TOKEN"]},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"documents": {"edges": [{"node": {"title": "over asgi"}}]}}}


def test_accent_auth_unreachable_is_rests_503_code(client: Client, accent_auth: Any) -> None:
    caller = Gql(client, accent_auth.login("alice"))
    accent_auth.set_unavailable(True)
    rest = problem(caller.rest.get(URL), 503)
    assert refusal(caller(LIST, first=5)) == {"code": rest["code"], "status": 503}


def test_a_request_that_is_not_graphql_is_a_plain_400_or_405(client: Client) -> None:
    not_json = client.post(GRAPHQL, "{nope", content_type="application/json")
    assert not_json.status_code == 400
    assert not_json.json()["errors"][0]["message"]
    assert client.post(GRAPHQL, "{}", content_type="application/json").status_code == 400
    assert client.put(GRAPHQL, "{}", content_type="application/json").status_code == 405
