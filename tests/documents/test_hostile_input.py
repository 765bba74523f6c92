"""Hostile input to the documents API and admin: every refusal is a 4xx problem (or a form error), never a 500.

Deep JSON, non-JSON numbers, numbers where strings are declared, NUL and lone surrogates,
timestamps that exist in no database, methods the views do not have. Each refusal also
writes nothing. Runs on SQLite (embedded) and PostgreSQL (real-service run).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.documents.models import Document
from tests.docs_snippets import DOCS

pytestmark = pytest.mark.django_db

URL = "/api/v1/documents/"
ACME = "00000000-0000-4000-8000-00000000000a"


class Api:
    """Raw bodies as a hostile client sends them, as the acme tenant's root."""

    def __init__(self, client: Client, token: str) -> None:
        self.client = client
        self.headers: dict[str, Any] = {"HTTP_X_AUTH_TOKEN": token, "HTTP_ACCENT_TENANT": ACME}

    def send(self, method: str, path: str, body: str | bytes | None = None, **extra: Any) -> Any:
        call = getattr(self.client, method.lower())
        if body is None:
            return call(path, **self.headers, **extra)
        return call(path, body, content_type="application/json", **self.headers, **extra)

    def get(self, path: str, params: dict[str, str]) -> Any:
        return self.client.get(path, params, **self.headers)


@pytest.fixture
def root(client: Client, accent_auth: Any) -> Api:
    return Api(client, accent_auth.login("root"))


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], bool(body["title"]), bool(body["detail"])) == (status, True, True)
    return body


def a_document(api: Api, title: str = "existing") -> dict[str, Any]:
    response = api.send("POST", URL, json.dumps({"title": title}))
    assert response.status_code == 201, response.content
    return dict(response.json())


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_json_nested_beyond_the_limit_is_a_400_problem(root: Api, depth: int) -> None:
    body = '{"title": "deep", "tags": ' + "[" * depth + "]" * depth + "}"
    refused = problem(root.send("POST", URL, body), 400)
    assert refused["code"] == "malformed_request"
    assert "deeper than 32 levels" in refused["detail"] or depth > 1000
    assert not Document.all_objects.exists()


def test_the_depth_limit_is_a_setting_and_counts_objects_and_arrays(root: Api, settings: Any) -> None:
    settings.API_JSON_MAX_DEPTH = 3
    within = {"documents": [{"title": "three levels", "tags": []}]}  # object > array > object > array: 4
    assert problem(root.send("POST", f"{URL}bulk-upsert/", json.dumps(within)), 400)["code"] == "malformed_request"
    settings.API_JSON_MAX_DEPTH = 4
    assert root.send("POST", f"{URL}bulk-upsert/", json.dumps(within)).status_code == 200


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_does_not_have_are_refused(root: Api, number: str) -> None:
    body = '{"title": "numbers", "tags": [], "extra": ' + number + "}"
    assert problem(root.send("POST", URL, body), 400)["code"] == "malformed_request"
    assert not Document.all_objects.exists()


@pytest.mark.parametrize(
    "fields",
    [{"title": 12}, {"title": 1.5}, {"title": True}, {"title": "ok", "body": 7}, {"title": "ok", "tags": [1, "a"]}],
    ids=["int", "float", "bool", "body", "tag"],
)
def test_a_number_where_a_string_is_declared_is_refused(root: Api, fields: dict[str, Any]) -> None:
    refused = problem(root.send("POST", URL, json.dumps(fields)), 400)
    assert refused["code"] == "invalid"
    assert any("expected a JSON string" in str(messages) for messages in refused["errors"].values())
    assert not Document.all_objects.exists()


UNSTORABLE = {"nul": "a\\u0000b", "lone high surrogate": "a\\ud800b", "lone low surrogate": "\\udfff"}


@pytest.mark.parametrize("escaped", UNSTORABLE.values(), ids=UNSTORABLE.keys())
@pytest.mark.parametrize("field", ["title", "body", "tags", "status", "key"])
def test_nul_and_lone_surrogates_are_refused_in_every_body_field(root: Api, escaped: str, field: str) -> None:
    document = a_document(root)
    value = f'["{escaped}"]' if field == "tags" else f'"{escaped}"'
    fields = f'"{escaped}": 1' if field == "key" else f'"{field}": {value}'
    create = '{"title": "t", ' + fields + "}" if field != "title" else "{" + fields + "}"
    requests = [
        ("POST", URL, create),
        ("PATCH", f"{URL}{document['id']}/", "{" + fields + "}"),
        ("POST", f"{URL}bulk-upsert/", '{"documents": [' + create + "]}"),
    ]
    if field == "key" and "u0000" in escaped:
        requests = requests[1:2]  # a create ignores unknown keys (NUL is valid JSON); PATCH refuses them
    for method, path, body in requests:
        refused = problem(root.send(method, path, body), 400)
        assert refused["code"] in {"invalid", "malformed_request"}, (method, path)
    assert list(Document.all_objects.values_list("title", flat=True)) == ["existing"]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "a\x00b"},
        {"tag": "\x00"},
        {"status": "draft\x00"},
        {"ordering": "title\x00"},
        {"cursor": "\x00"},
        {"limit": "1\x00"},
        {"created_after": "2024-01-01T00:00:00\x00"},
    ],
    ids=["q", "tag", "status", "ordering", "cursor", "limit", "created_after"],
)
@pytest.mark.parametrize("pagination", ["cursor", "offset"])
def test_nul_in_query_parameters_and_filters_is_a_400(root: Api, params: dict[str, str], pagination: str) -> None:
    if pagination == "offset":
        params = {**params, "offset": "0"}
    refused = problem(root.get(URL, params), 400)
    assert refused["code"] == "invalid"
    assert set(refused["errors"]) == {next(iter(params))}


OUT_OF_RANGE = [
    "2024-01-01T00:00:00+99:00",
    "2024-01-01T00:00:00-24:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:30:00-00:45",
    "0001-01-01T00:00:00+01:00",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2024-13-01T00:00:00Z",
]


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE)
@pytest.mark.parametrize("name", ["created_after", "created_before"])
@pytest.mark.parametrize("pagination", ["cursor", "offset"])
def test_timestamps_that_do_not_exist_in_utc_are_a_400(root: Api, timestamp: str, name: str, pagination: str) -> None:
    params = {name: timestamp, **({"offset": "0"} if pagination == "offset" else {})}
    refused = problem(root.get(URL, params), 400)
    assert refused["code"] == "invalid"
    assert set(refused["errors"]) == {name}


@pytest.mark.parametrize(
    "timestamp",
    ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59+01:00", "2024-01-01T00:00:00+23:59", "2024-01-01T00:00:00-16:00"],
)
def test_extreme_timestamps_that_exist_in_utc_filter(root: Api, timestamp: str) -> None:
    a_document(root)
    for pagination in ({}, {"offset": "0"}):
        response = root.get(URL, {"created_after": timestamp, **pagination})
        assert response.status_code == 200, response.content
        response = root.get(URL, {"created_before": timestamp, **pagination})
        assert response.status_code == 200, response.content


@pytest.fixture
def staff_browser(client: Client) -> Client:
    User.objects.create_superuser("hostile-admin", "admin@example.com", "pw")
    client.login(username="hostile-admin", password="pw")
    return client


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "a\x00b"),
        ("body", "a\x00b"),
        ("tags", '["a\\u0000b"]'),
        ("tags", '["\\ud800"]'),
        ("tags", '{"\\udc00": 1}'),
    ],
    ids=["title-nul", "body-nul", "tags-nul", "tags-surrogate", "tags-surrogate-key"],
)
def test_the_admin_document_form_shows_unstorable_text_as_a_form_error(
    staff_browser: Client, field: str, value: str
) -> None:
    form = {"title": "from the admin", "body": "", "status": "draft", "tags": "[]", field: value}
    form.update({"attachments-TOTAL_FORMS": "0", "attachments-INITIAL_FORMS": "0"})
    response = staff_browser.post("/admin/documents/document/add/", form)
    assert response.status_code == 200, response.content[:300]
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert not Document.all_objects.exists()


def test_the_browsable_api_serves_a_logged_in_staff_user(staff_browser: Client) -> None:
    for path in [URL, f"{URL}01a2347d-e23d-70f4-bd8d-252802bb8715/", f"{URL}bulk-upsert/"]:
        page = staff_browser.get(path, HTTP_ACCEPT="text/html", HTTP_ACCENT_TENANT=ACME)
        assert page.status_code in {200, 404, 405}, (path, page.content[:300])
        assert page["Content-Type"].startswith("text/html")
    page = staff_browser.get(URL, HTTP_ACCEPT="text/html", HTTP_ACCENT_TENANT=ACME)
    assert page.status_code == 200
    assert b"Documents Collection" in page.content or b"Document Collection" in page.content


def test_the_documented_hostile_input_example_is_the_real_answer(root: Api) -> None:
    section = (DOCS / "api.md").read_text().split("## Hostile input", 1)[1]
    sent = re.search(r"-d '(.*?)'", section).group(1)  # type: ignore[union-attr]
    documented = json.loads(re.search(r"```json\n(.*?)```", section, flags=re.DOTALL).group(1))  # type: ignore[union-attr]
    actual = problem(root.send("POST", URL, sent), 400)
    assert {key: actual[key] for key in documented} == documented


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v1/documents", "/api/v1/documents/not-a-uuid/"])
def test_unknown_api_urls_are_problem_404s_in_debug_too(client: Client, settings: Any, method: str, path: str) -> None:
    settings.DEBUG = True  # Django would answer its HTML debug page (or, for a POST without slash, a RuntimeError)
    response = getattr(client, method)(path)
    body = problem(response, 404)
    assert (body["code"], body["instance"]) == ("not_found", path)


@pytest.mark.parametrize(
    "body",
    ['{"title": "a", "title": "b"}', '{"title": "a", "\\u0074itle": "b"}', '{"title": "a", "tags": ["x"], "tags": []}'],
    ids=["plain", "escaped", "tags"],
)
def test_an_object_naming_a_key_twice_is_a_400_that_writes_nothing(root: Api, body: str) -> None:
    document = a_document(root)
    for method, path, sent in [
        ("POST", URL, body),
        ("PATCH", f"{URL}{document['id']}/", body),
        ("POST", f"{URL}bulk-upsert/", '{"documents": [' + body + "]}"),
    ]:
        refused = problem(root.send(method, path, sent), 400)
        assert refused["code"] == "malformed_request", (method, path)
        assert "more than once" in refused["detail"]
    assert list(Document.all_objects.values_list("title", "tags")) == [("existing", [])]


def test_the_same_key_in_two_objects_is_fine(root: Api) -> None:
    body = '{"documents": [{"title": "one"}, {"title": "two"}]}'
    assert root.send("POST", f"{URL}bulk-upsert/", body).json() == {"created": 2, "updated": 0}


@pytest.mark.parametrize(
    "query",
    ["limit=1&limit=500", "deleted=false&deleted=true", "tag=a&tag=b", "q=a&q=a"],
    ids=["limit", "deleted", "tag", "same value"],
)
def test_a_query_parameter_given_twice_is_a_400_naming_it(root: Api, query: str) -> None:
    refused = problem(root.client.get(f"{URL}?{query}", **root.headers), 400)
    assert refused["code"] == "invalid"
    assert list(refused["errors"]) == [query.partition("=")[0]]


@pytest.mark.parametrize("raw", ["%FF", "%C0%AF", "%ED%A0%80", "a%E2%82"], ids=["ff", "overlong", "surrogate", "cut"])
@pytest.mark.parametrize("name", ["q", "cursor", "unknown"])
def test_a_query_parameter_that_is_not_utf8_is_a_400_naming_it(root: Api, raw: str, name: str) -> None:
    refused = problem(root.client.get(f"{URL}?limit=5&{name}={raw}", **root.headers), 400)
    assert refused["code"] == "invalid"
    assert refused["errors"] == {name: ["Not UTF-8 text."]}
    assert root.client.get(f"{URL}?q=%EF%BF%BD", **root.headers).status_code == 200  # U+FFFD itself is text


@pytest.mark.parametrize("media_type", ["*/*", "application/*", "*/json"])
def test_a_wildcard_content_type_is_not_json(root: Api, media_type: str) -> None:
    """DRF's parser selection lets a wildcard match application/json; a body must name its type."""
    response = root.client.post(URL, '{"title": "wild"}', content_type=media_type, **root.headers)
    assert problem(response, 415)["code"] == "unsupported_media_type"
    assert not Document.all_objects.exists()
    sent = root.client.post(URL, '{"title": "named"}', content_type="Application/JSON; charset=utf-8", **root.headers)
    assert sent.status_code == 201, sent.content
