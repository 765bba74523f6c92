"""One output shape: real responses validate against the OpenAPI schema, and a list item is its detail's bytes.

The schema's output components say `additionalProperties: false` and list every member as
required, so a field the API adds, drops or renames fails here, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs locked (types-jsonschema)
import orjson
import pytest
from django.test import Client

from tests.documents.test_api import URL, Api, create

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable` as JSON Schema's `null` type (what jsonschema understands)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if not node.get("nullable"):
        return converted
    if "type" in converted:
        converted["type"] = [converted["type"], "null"]
        return converted
    return {"anyOf": [converted, {"type": "null"}]}


def validator(openapi: dict[str, Any], method: str, path: str, status: int) -> jsonschema.Draft202012Validator:
    """The JSON Schema of one operation's response, its `$ref`s resolved in the schema's components."""
    response = openapi["paths"][path][method]["responses"][str(status)]
    schema = _json_schema(response["content"]["application/json"]["schema"])
    root = {**schema, "components": _json_schema(openapi["components"])}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


def assert_valid(openapi: dict[str, Any], method: str, path: str, response: Any) -> None:
    assert response["Content-Type"] == "application/json", response.content
    validator(openapi, method, path, response.status_code).validate(response.json())


@pytest.fixture
def alice(client: Client, accent_auth: Any) -> Api:
    """acme; documents.# except delete (the deleted list included)."""
    return Api(client, accent_auth.login("alice"))


@pytest.fixture
def root_in_acme(client: Client, accent_auth: Any) -> Api:
    """every ACL, acting in acme: deletes."""
    from tests.documents.test_api import ACME

    return Api(client, accent_auth.login("root"), tenant=ACME)


DETAIL = f"{URL}{{id}}/"


def test_every_documents_response_is_what_the_schema_says(
    openapi: dict[str, Any], alice: Api, root_in_acme: Api
) -> None:
    created = alice.post(URL, {"title": "shape", "body": "b", "tags": ["a", "b"]})
    assert_valid(openapi, "post", URL, created)
    document_id = created.json()["id"]
    create(alice, "other", status="published")
    updated = alice.patch(f"{URL}{document_id}/", {"status": "archived"})
    assert_valid(openapi, "patch", DETAIL, updated)
    assert_valid(openapi, "get", DETAIL, alice.get(f"{URL}{document_id}/"))
    for params in ({}, {"limit": 1}, {"status": "published"}, {"tag": "zzz"}, {"offset": 0, "total": "true"}):
        listed = alice.get(URL, **params)
        assert listed.status_code == 200, listed.content
        assert_valid(openapi, "get", URL, listed)
    following = alice.get(URL, cursor=alice.get(URL, limit=1).json()["next_cursor"], limit=1)
    assert following.json()["previous_cursor"]
    assert_valid(openapi, "get", URL, following)
    assert root_in_acme.delete(f"{URL}{document_id}/").status_code == 204
    for params in ({"deleted": "true"}, {"deleted": "true", "offset": 0}):
        deleted = alice.get(URL, **params)
        assert [item["id"] for item in deleted.json()["results"]] == [document_id]
        assert_valid(openapi, "get", URL, deleted)
    assert_valid(openapi, "post", f"{DETAIL}restore/", alice.post(f"{URL}{document_id}/restore/"))
    upserted = alice.post(f"{URL}bulk-upsert/", {"documents": [{"title": "shape"}, {"title": "new"}]})
    assert_valid(openapi, "post", f"{URL}bulk-upsert/", upserted)


def test_an_extra_a_missing_or_a_mistyped_member_fails_the_schema(openapi: dict[str, Any], alice: Api) -> None:
    body = create(alice, "strict", tags=["a"])
    detail = validator(openapi, "get", DETAIL, 200)
    detail.validate(body)
    for broken in (
        {**body, "tenant_id": "x"},
        {k: v for k, v in body.items() if k != "updated_by"},
        {**body, "tags": "a"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            detail.validate(broken)
    page = alice.get(URL).json()
    listing = validator(openapi, "get", URL, 200)
    listing.validate(page)
    with pytest.raises(jsonschema.ValidationError):  # a live item with the deleted list's members is neither shape
        listing.validate({**page, "results": [{**page["results"][0], "deleted_at": None}]})


def test_list_items_are_the_detail_and_write_bodies_byte_for_byte(alice: Api) -> None:
    written = [
        alice.post(URL, {"title": 'quotes "q" é 😀', "body": "line\nbreak", "tags": ["a", "b"]}),
        alice.post(URL, {"title": "empty tags", "tags": []}),
    ]
    written.append(alice.patch(f"{URL}{written[1].json()['id']}/", {"tags": ["x", "y", "z"]}))
    details = [alice.get(f"{URL}{response.json()['id']}/").content for response in written[:2]]
    assert written[0].content == details[0]
    assert written[2].content == details[1]  # the update's body, after the update
    # Newest first: the list's results are exactly the detail bodies, joined.
    for params in ({}, {"offset": 0}):
        listed = alice.get(URL, **params).content
        assert listed.startswith(b'{"results":[' + details[1] + b"," + details[0] + b"]"), listed
    assert b'"tags":["a","b"]' in details[0]  # compact on every backend (PostgreSQL's jsonb text is `["a", "b"]`)
    assert orjson.loads(details[1])["tags"] == ["x", "y", "z"]
