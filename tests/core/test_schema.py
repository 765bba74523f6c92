"""The OpenAPI schema tells the truth about errors: a `Problem` for every status each operation can answer."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operation(schema: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = schema["paths"][path][method]
    return operation


def test_the_problem_component_has_the_rfc_9457_members_and_ours(schema: dict[str, Any]) -> None:
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "code",
        "errors",
        "request_id",
    }
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("get", "/api/v1/documents/", {200, 400, 401, 403, 406, 413, 429, 503}),
        ("post", "/api/v1/documents/", {201, 400, 401, 403, 406, 409, 413, 415, 429, 503}),
        ("get", "/api/v1/documents/{id}/", {200, 400, 401, 403, 404, 406, 413, 429, 503}),
        ("patch", "/api/v1/documents/{id}/", {200, 400, 401, 403, 404, 406, 409, 412, 413, 415, 428, 429, 503}),
        ("delete", "/api/v1/documents/{id}/", {204, 400, 401, 403, 404, 406, 412, 413, 428, 429, 503}),
        ("post", "/api/v1/documents/{id}/restore/", {200, 400, 401, 403, 404, 406, 409, 412, 413, 428, 429, 503}),
        ("post", "/api/v1/documents/bulk-upsert/", {200, 400, 401, 403, 406, 409, 413, 415, 429, 503}),
        ("delete", "/api/v1/auth/token", {204, 400, 401, 403, 406, 413, 429, 503}),
    ],
)
def test_every_operation_documents_each_status_it_answers(
    schema: dict[str, Any], method: str, path: str, statuses: set[int]
) -> None:
    responses = _operation(schema, method, path)["responses"]
    assert {int(status) for status in responses} == statuses
    for status, response in responses.items():
        if int(status) >= 400:
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, status
            assert response["description"].startswith("`"), "the description names the problem codes"


def test_the_list_answers_a_cursor_page_or_an_offset_page(schema: dict[str, Any]) -> None:
    content = _operation(schema, "get", "/api/v1/documents/")["responses"]["200"]["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/DocumentPage"}
    pages = schema["components"]["schemas"]["DocumentPage"]["oneOf"]
    assert pages == [
        {"$ref": "#/components/schemas/DocumentPageOutput"},
        {"$ref": "#/components/schemas/DocumentOffsetPageOutput"},
    ]
    offset_page = schema["components"]["schemas"]["DocumentOffsetPageOutput"]
    assert set(offset_page["required"]) == {"results", "offset", "limit", "total", "next"}


def test_headers_are_documented(schema: dict[str, Any]) -> None:
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            names = {(p["in"], p["name"]) for p in operation["parameters"]}
            assert ("header", "Accent-Tenant") in names
    created = _operation(schema, "post", "/api/v1/documents/")["responses"]["201"]["headers"]
    assert set(created) == {"Location", "ETag"}
    assert set(_operation(schema, "get", "/api/v1/documents/{id}/")["responses"]["200"]["headers"]) == {"ETag"}
    for method, path in [
        ("patch", "/api/v1/documents/{id}/"),
        ("delete", "/api/v1/documents/{id}/"),
        ("post", "/api/v1/documents/{id}/restore/"),
    ]:
        names = {(p["in"], p["name"]) for p in _operation(schema, method, path)["parameters"]}
        assert ("header", "If-Match") in names


def test_field_and_parameter_limits_are_documented(schema: dict[str, Any]) -> None:
    fields = schema["components"]["schemas"]["DocumentCreateInput"]["properties"]
    assert (fields["title"]["maxLength"], fields["body"]["maxLength"]) == (200, 100_000)
    assert (fields["tags"]["maxItems"], fields["tags"]["items"]["maxLength"]) == (20, 50)
    parameters = {p["name"]: p["schema"] for p in _operation(schema, "get", "/api/v1/documents/")["parameters"]}
    assert (parameters["limit"]["minimum"], parameters["limit"]["maximum"]) == (1, 500)
    assert parameters["offset"]["minimum"] == 0
    assert parameters["status"]["enum"] == ["draft", "published", "archived"]
    assert (parameters["q"]["maxLength"], parameters["tag"]["maxLength"]) == (200, 50)
