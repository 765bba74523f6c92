"""A hostile client against a real gunicorn: every attack is a documented 4xx problem that writes nothing.

One gunicorn (production settings, its own migrated database, this run's Redis and broker)
and a stand-in Accent-Auth of this module. Requests go over a raw `http.client` connection,
so paths, headers and bodies reach the server exactly as written (no client normalisation).
Every endpoint meets wrong media types, empty, huge and deep bodies, wrong JSON types in each
field, NUL / surrogates / invalid UTF-8, duplicate keys, strings just over each limit,
malformed ids, path traversal, unknown and repeated query parameters, invalid pagination,
foreign tenants, bad tokens and missing ACLs. Each answer must be a 4xx from the status table
of docs/api.md, as `application/problem+json` with the RFC 9457 members, and the server's
database must hold exactly the rows it held before (no document change, no audit event, no
outbox row). Bounded: a few hundred requests on loopback, well under a minute.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from devtools.accent_auth_standin import DEFAULT_CONFIG, StandInAccentAuth, StandInConfig, User
from tests.security.conftest import ServedDatabase, served_api

ACME = "00000000-0000-4000-8000-00000000000a"
GLOBEX = "00000000-0000-4000-8000-00000000000b"
MASTER = "00000000-0000-4000-8000-000000000001"
URL = "/api/v1/documents/"
MAX_BODY = 1_048_576  # REQUEST_MAX_BODY_BYTES's default
# docs/api.md, "Errors": the codes each status may carry.
DOCUMENTED = {
    400: {"invalid", "malformed_request", "disallowed_host"},
    401: {"not_authenticated"},
    403: {"permission_denied"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    406: {"not_acceptable"},
    409: {"conflict"},
    412: {"precondition_failed"},
    413: {"request_too_large"},
    415: {"unsupported_media_type"},
    428: {"precondition_required"},
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Target:
    """The server, its database, its Accent-Auth and what the module seeded."""

    base_url: str
    database: ServedDatabase
    auth: StandInAccentAuth
    tokens: dict[str, str]
    acme_ids: list[str] = field(default_factory=list)
    acme_deleted_id: str = ""
    globex_id: str = ""

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        user: str | None = "root",
        tenant: str | None = ACME,
        headers: Sequence[tuple[str, str]] = (),
        content_type: str | None = "application/json",
    ) -> Answer:
        """One request exactly as written: `path` raw, headers repeated as given, `body` as bytes."""
        host, port = self.base_url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            sent: list[tuple[str, str]] = []
            if user is not None:
                sent.append(("X-Auth-Token", self.tokens[user]))
            if tenant is not None:
                sent.append(("Accent-Tenant", tenant))
            if body is not None and content_type is not None:
                sent.append(("Content-Type", content_type))
            if body is not None:
                sent.append(("Content-Length", str(len(body))))
            for name, value in [*sent, *headers]:
                connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def send_json(self, method: str, path: str, value: Any, **options: Any) -> Answer:
        return self.send(method, path, json.dumps(value).encode(), **options)

    def effects(self) -> tuple[int, int, list[tuple[Any, ...]]]:
        """What writes leave: audit events, outbox rows, and every document row as it is."""
        ((audit,),) = self.database.rows("SELECT count(*) FROM core_auditevent")
        ((outbox,),) = self.database.rows("SELECT count(*) FROM events_outbox")
        documents = self.database.rows(
            "SELECT id, tenant_id, title, body, status, tags, updated_at, deleted_at"
            " FROM documents_document ORDER BY id"
        )
        return int(audit), int(outbox), [tuple(str(value) for value in row) for row in documents]


def _standin_config(narrow_document_id: str) -> StandInConfig:
    narrow = User(  # may read one document of acme, nothing else
        username="narrow",
        password="narrow",
        uuid="00000000-0000-4000-9000-0000000000cc",
        tenant_uuid=ACME,
        acl=(f"documents.{narrow_document_id}.read",),
    )
    return dataclasses.replace(DEFAULT_CONFIG, users=(*DEFAULT_CONFIG.users, narrow))


def _login(auth: StandInAccentAuth, username: str, expiration: int = 3600) -> str:
    import httpx

    response = httpx.post(f"{auth.url}/token", auth=(username, username), json={"expiration": expiration})
    response.raise_for_status()
    return str(response.json()["data"]["token"])


# `narrow` may read one document, whose id only exists once the server made it: its ACL names a
# placeholder until then (target() puts the id in).
_NARROW_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    auth = StandInAccentAuth(_standin_config(_NARROW_PLACEHOLDER)).start()
    try:
        with served_api(tmp_path_factory.mktemp("hostile"), accent_auth_url=auth.url, workers=1, threads=4) as (
            base_url,
            database,
        ):
            tokens = {name: _login(auth, name) for name in ("root", "alice", "bob")}
            served = Target(base_url, database, auth, tokens)
            for n in range(3):
                created = served.send_json("POST", URL, {"title": f"acme {n}", "tags": ["seed"]})
                assert created.status == 201, created.body
                served.acme_ids.append(created.json()["id"])
            deleted = served.send_json("POST", URL, {"title": "acme deleted"})
            served.acme_deleted_id = deleted.json()["id"]
            assert served.send("DELETE", f"{URL}{served.acme_deleted_id}/").status == 204
            other = served.send_json("POST", URL, {"title": "globex 0"}, tenant=GLOBEX)
            assert other.status == 201, other.body
            served.globex_id = other.json()["id"]
            # `narrow` may read acme's first document only: its ACL names that id.
            auth.set_acl("narrow", [f"documents.{served.acme_ids[0]}.read"])
            served.tokens["narrow"] = _login(auth, "narrow")
            yield served
    finally:
        auth.stop()


# --- what every refusal must be ----------------------------------------------------------------


def refusal_defects(answer: Answer, expected: set[int] | None = None) -> list[str]:
    """What is wrong with `answer` as the refusal of a hostile request (empty when it is right)."""
    if expected is not None and answer.status not in expected:
        return [f"status {answer.status}, expected {sorted(expected)}: {answer.body[:300]!r}"]
    if answer.status not in DOCUMENTED:
        return [f"status {answer.status} is no documented refusal: {answer.body[:300]!r}"]
    defects = []
    if answer.headers.get("content-type") != "application/problem+json":
        defects.append(f"content type {answer.headers.get('content-type')!r}: {answer.body[:200]!r}")
        return defects
    body = answer.json()
    if not (isinstance(body, dict) and body.get("status") == answer.status and body.get("type") == "about:blank"):
        defects.append(f"not an RFC 9457 body for {answer.status}: {body}")
    elif not (isinstance(body.get("title"), str) and body["title"] and isinstance(body.get("detail"), str)):
        defects.append(f"no title or detail: {body}")
    elif body.get("code") not in DOCUMENTED[answer.status]:
        defects.append(f"code {body.get('code')!r} is not documented for {answer.status}")
    elif body.get("request_id") != answer.headers.get("x-request-id"):
        defects.append(f"request_id {body.get('request_id')!r} is not the X-Request-ID")
    return defects


class Refusals:
    """Collects every defect of a batch of hostile requests, then fails once with all of them."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.defects: list[str] = []

    def expect(self, what: str, answer: Answer, statuses: set[int] | None = None) -> Answer:
        self.defects.extend(f"{what}: {defect}" for defect in refusal_defects(answer, statuses))
        return answer


@contextmanager
def refused(target: Target) -> Iterator[Refusals]:
    """Hostile requests in the block: each must be a documented refusal, and together they write nothing."""
    before = target.effects()
    refusals = Refusals(target)
    yield refusals
    after = target.effects()
    if after != before:
        refusals.defects.append(
            f"refused requests wrote: audit {before[0]}->{after[0]}, outbox {before[1]}->{after[1]}, "
            f"documents changed: {sorted(set(after[2]) ^ set(before[2]))}"
        )
    assert not refusals.defects, "\n".join(refusals.defects)


def endpoints(target: Target) -> list[tuple[str, str]]:
    """Every operation of the API, on a live acme document where it needs one."""
    document = f"{URL}{target.acme_ids[1]}/"
    return [
        ("GET", URL),
        ("POST", URL),
        ("GET", document),
        ("PATCH", document),
        ("DELETE", document),
        ("POST", f"{URL}{target.acme_deleted_id}/restore/"),
        ("POST", f"{URL}bulk-upsert/"),
        ("DELETE", "/api/v1/auth/token"),
    ]


BODY_ENDPOINTS = ["create", "patch", "upsert"]


def body_endpoint(target: Target, name: str) -> tuple[str, str]:
    return {
        "create": ("POST", URL),
        "patch": ("PATCH", f"{URL}{target.acme_ids[1]}/"),
        "upsert": ("POST", f"{URL}bulk-upsert/"),
    }[name]


def wrapped(name: str, row: Any) -> Any:
    """`row` as the body of `name`: the row itself, or a bulk upsert of that one row."""
    return {"documents": [row]} if name == "upsert" else row


# --- bodies ------------------------------------------------------------------------------------


WRONG_MEDIA_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/merge-patch+json",
    "application/jsonx",
    "json",
    "*/*",
    "application/*",
]


def test_bodies_of_another_media_type_are_415(target: Target) -> None:
    with refused(target) as check:
        for name in BODY_ENDPOINTS:
            method, path = body_endpoint(target, name)
            body = json.dumps(wrapped(name, {"title": "media"})).encode()
            for media_type in WRONG_MEDIA_TYPES:
                answer = target.send(method, path, body, content_type=media_type)
                check.expect(f"{name} as {media_type}", answer, {415})
            check.expect(f"{name} without Content-Type", target.send(method, path, body, content_type=None), {415})


def test_an_accept_the_api_cannot_render_is_406_on_every_endpoint(target: Target) -> None:
    with refused(target) as check:
        for method, path in endpoints(target):
            body = b"{}" if method in {"POST", "PATCH"} else None
            answer = target.send(method, path, body, headers=[("Accept", "text/csv")])
            check.expect(f"{method} {path} Accept: text/csv", answer, {406})


@pytest.mark.parametrize("body", [b"", b" ", b"null", b"[]", b'"title"', b"1", b"true", b"{}"])
def test_empty_and_non_object_bodies_are_400(target: Target, body: bytes) -> None:
    """An empty PATCH (no body at all, or `{}`) changes nothing: it answers the document and writes nothing."""
    with refused(target) as check:
        for name in BODY_ENDPOINTS:
            method, path = body_endpoint(target, name)
            answer = target.send(method, path, body)
            if name == "patch" and body in {b"", b"{}"}:
                if answer.status != 200 or answer.json()["id"] != target.acme_ids[1]:
                    check.defects.append(f"empty patch {body!r}: {answer.status} {answer.body[:200]!r}")
                continue
            check.expect(f"{name} {body!r}", answer, {400})


def test_bodies_over_the_limit_are_413_declared_or_chunked(target: Target) -> None:
    with refused(target) as check:
        for method, path in endpoints(target):
            if method == "GET":
                continue
            huge = json.dumps({"title": "huge", "body": "x" * MAX_BODY}).encode()
            check.expect(f"{method} {path} declared", target.send(method, path, huge), {413})
            answer = _chunked(target, method, path, huge)
            check.expect(f"{method} {path} chunked", answer, {413})


def _chunked(target: Target, method: str, path: str, body: bytes) -> Answer:
    host, port = target.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        headers = {"X-Auth-Token": target.tokens["root"], "Accent-Tenant": ACME, "Content-Type": "application/json"}
        pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
        # The server may answer and close before it has read a body it refuses.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(method, path, pieces, headers=headers, encode_chunked=True)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("depth", [33, 10_000, 200_000])
def test_json_nested_deeper_than_the_limit_is_400(target: Target, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    with refused(target) as check:
        for name in BODY_ENDPOINTS:
            method, path = body_endpoint(target, name)
            inner = '{"title": "deep", "tags": ' + nested + "}"
            body = ('{"documents": [' + inner + "]}" if name == "upsert" else inner).encode()
            check.expect(f"{name} depth {depth}", target.send(method, path, body), {400})
            check.expect(f"{name} bare depth {depth}", target.send(method, path, nested.encode()), {400})


WRONG_TYPES: list[Any] = [12, 1.5, True, None, [], {}, ["a"], {"a": "b"}]


@pytest.mark.parametrize("name", BODY_ENDPOINTS)
def test_a_wrong_json_type_in_any_field_is_400_naming_it(target: Target, name: str) -> None:
    method, path = body_endpoint(target, name)
    with refused(target) as check:
        for field_name in ("title", "body", "status", "tags"):
            for value in WRONG_TYPES:
                if field_name == "tags" and value in ([], ["a"]):
                    continue  # a list of strings is what tags are
                row = {"title": "typed", field_name: value}
                answer = check.expect(
                    f"{name} {field_name}={value!r}", target.send_json(method, path, wrapped(name, row)), {400}
                )
                if answer.status == 400 and name != "upsert" and field_name not in answer.json().get("errors", {}):
                    check.defects.append(f"{name} {field_name}={value!r}: errors do not name it: {answer.body!r}")
        for value in [12, True, None, {}, ["a"], [None], [12]]:
            answer = target.send_json(method, path, wrapped(name, {"title": "typed", "tags": [value]}))
            check.expect(f"{name} tags=[{value!r}]", answer, {400})
        if name == "upsert":
            for value in [12, True, None, "rows", {}, {"title": "x"}, [12], [None], [[]]]:
                answer = target.send_json(method, path, {"documents": value})
                check.expect(f"upsert documents={value!r}", answer, {400})


UNSTORABLE_ESCAPES = ["a\\u0000b", "\\ud800", "x\\udfffy", "\\udbff\\udbff"]
INVALID_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\xe2\x82"]


@pytest.mark.parametrize("name", BODY_ENDPOINTS)
def test_nul_surrogates_and_invalid_utf8_in_any_body_string_are_400(target: Target, name: str) -> None:
    method, path = body_endpoint(target, name)
    with refused(target) as check:
        for field_name in ("title", "body", "status", "tags"):
            for escaped in UNSTORABLE_ESCAPES:
                value = f'["{escaped}"]' if field_name == "tags" else f'"{escaped}"'
                row = '{"title": "ok", "' + field_name + '": ' + value + "}"
                body = ('{"documents": [' + row + "]}" if name == "upsert" else row).encode()
                check.expect(f"{name} {field_name}={escaped}", target.send(method, path, body), {400})
            for raw in INVALID_UTF8:
                row_bytes = b'{"title": "ok", "' + field_name.encode() + b'": "' + raw + b'"}'
                body = b'{"documents": [' + row_bytes + b"]}" if name == "upsert" else row_bytes
                check.expect(f"{name} {field_name}={raw!r}", target.send(method, path, body), {400})
        check.expect(f"{name} BOM", target.send(method, path, b"\xef\xbb\xbf" + b'{"title": "bom"}'), {400})


def test_nul_and_invalid_utf8_in_the_query_are_400_and_in_the_path_404(target: Target) -> None:
    with refused(target) as check:
        for parameter in ("q", "tag", "status", "ordering", "cursor", "limit", "offset", "deleted", "unknown"):
            for raw in ("%00", "a%00", "%ED%A0%80", "%FF", "%C0%AF"):
                answer = target.send("GET", f"{URL}?{parameter}={raw}")
                check.expect(f"?{parameter}={raw}", answer, {400})
        for method, path in endpoints(target):
            if "auth" in path:
                continue
            for raw in ("%00", "%ED%A0%80", "%FF"):
                poisoned = path.replace(target.acme_ids[1], raw) if target.acme_ids[1] in path else path + raw
                if target.acme_deleted_id in poisoned:
                    poisoned = poisoned.replace(target.acme_deleted_id, raw)
                body = b"{}" if method in {"POST", "PATCH"} else None
                check.expect(f"{method} {poisoned}", target.send(method, poisoned, body), {400, 404})


def test_unicode_that_is_text_is_stored_exactly(target: Target) -> None:
    """Not an attack that must fail: astral characters, combining marks, bidi and zero-width text round-trip."""
    texts = ["😀" * 200, "e\u0301" * 100, "\u202eevil\u202c", "a\u200bb", "\U0010fffd", "ǅ\ufb01\u00df"]
    before = target.effects()
    for text in texts:
        created = target.send_json("POST", URL, {"title": text, "body": text, "tags": [text[:50]]})
        assert created.status == 201, (text, created.body)
        read = target.send("GET", f"{URL}{created.json()['id']}/")
        assert (read.json()["title"], read.json()["body"], read.json()["tags"]) == (text, text, [text[:50]])
    assert target.effects()[:2] == (before[0] + len(texts), before[1] + len(texts))
    with refused(target) as check:
        for blank in ["", " ", "\u3000", "\t\n", "\u2028"]:
            check.expect(f"blank title {blank!r}", target.send_json("POST", URL, {"title": blank}), {400})
        check.expect("201 astral", target.send_json("POST", URL, {"title": "😀" * 201}), {400})


@pytest.mark.parametrize("name", BODY_ENDPOINTS)
def test_duplicate_keys_are_400(target: Target, name: str) -> None:
    """Which of two values for one key counts differs between parsers (a proxy may check the first)."""
    method, path = body_endpoint(target, name)
    rows = [
        b'{"title": "dup a", "title": "dup b"}',
        b'{"title": "dup", "status": "draft", "status": "archived"}',
        b'{"title": "dup", "tags": [], "tags": ["x"]}',
        b'{"title": "dup", "\\u0074itle": "escaped twin"}',
    ]
    with refused(target) as check:
        for row in rows:
            body = b'{"documents": [' + row + b"]}" if name == "upsert" else row
            check.expect(f"{name} {row!r}", target.send(method, path, body), {400})
        if name == "upsert":
            twice = b'{"documents": [{"title": "a"}], "documents": [{"title": "b"}]}'
            check.expect("upsert documents twice", target.send(method, path, twice), {400})


def test_strings_just_over_each_limit_are_400_and_at_it_accepted(target: Target) -> None:
    at_limit = {"title": "L" * 200, "body": "b" * 100_000, "tags": [f"{n:02}" + "t" * 48 for n in range(20)]}
    created = target.send_json("POST", URL, at_limit)
    assert created.status == 201, created.body[:300]
    over = {
        "title": {"title": "T" * 201},
        "body": {"title": "over body", "body": "b" * 100_001},
        "tags": {"title": "over tag", "tags": ["t" * 51]},
        "tags count": {"title": "over tags", "tags": [str(n) for n in range(21)]},
    }
    with refused(target) as check:
        for name in BODY_ENDPOINTS:
            method, path = body_endpoint(target, name)
            for what, row in over.items():
                check.expect(f"{name} {what}", target.send_json(method, path, wrapped(name, row)), {400})
        rows = [{"title": f"row {n}"} for n in range(1001)]
        check.expect("1001 rows", target.send_json("POST", f"{URL}bulk-upsert/", {"documents": rows}), {400})
        check.expect("q over", target.send("GET", f"{URL}?q={'q' * 201}"), {400})
        check.expect("tag over", target.send("GET", f"{URL}?tag={'t' * 51}"), {400})


# --- paths -------------------------------------------------------------------------------------


def test_malformed_foreign_and_unknown_ids_are_404(target: Target) -> None:
    acme = target.acme_ids[2]
    ids = [
        "not-a-uuid",
        acme.upper(),
        acme.replace("-", ""),
        "{" + acme + "}",
        f"urn:uuid:{acme}",
        str(uuid.uuid4()),
        target.globex_id,
        "0",
        "-1",
        "9" * 300,
        acme + "0",
    ]
    with refused(target) as check:
        for document_id in ids:
            for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "restore/")):
                body = b'{"body": "x"}' if method in {"PATCH", "POST"} else None
                answer = target.send(method, f"{URL}{document_id}/{suffix}", body)
                check.expect(f"{method} {document_id} {suffix}", answer, {404})


def test_path_traversal_reaches_nothing_but_a_404(target: Target) -> None:
    document = target.acme_ids[2]
    paths = [
        f"{URL}../../admin/",
        f"{URL}..%2f..%2fadmin%2f",
        f"{URL}%2e%2e/%2e%2e/admin/",
        f"{URL}%252e%252e/",
        f"{URL}{document}/../{target.globex_id}/",
        f"{URL}{document}/restore/../",
        f"{URL}{document}/%2e%2e/",
        f"{URL}{document};/",
        f"{URL}{document}/%2frestore/",
        f"{URL}/{document}/",
        f"{URL}{document}//",
        "/api/v1/documents/..\\..\\admin\\",
        "/api/v1/./documents/",
        "/api/v1/documents/bulk-upsert/../",
    ]
    with refused(target) as check:
        for path in paths:
            for method in ("GET", "PATCH", "DELETE", "POST"):
                body = b'{"body": "traversed"}' if method in {"PATCH", "POST"} else None
                check.expect(f"{method} {path}", target.send(method, path, body), {400, 404, 405})


# --- query parameters ---------------------------------------------------------------------------


def test_invalid_cursor_ordering_limit_and_offset_are_400(target: Target) -> None:
    first = target.send("GET", f"{URL}?limit=1&ordering=title")
    cursor = first.json()["next_cursor"]
    assert cursor
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    queries = [
        "cursor=garbage",
        f"cursor={flipped}",
        "cursor=eyJ2IjpbXX0",
        f"cursor={cursor}&ordering=-created_at",
        f"cursor={cursor}&deleted=true",
        f"cursor={'A' * 3000}",
        *(f"limit={value}" for value in ["0", "-1", "501", "1.5", "1e2", "x", "99999999999999999999999"]),
        *(f"offset={value}" for value in ["-1", "1000000001", "x", "1.0", "0x10"]),
        *(f"ordering={value}" for value in ["password", "-", "--title", "title,password", "deleted_at", "tenant_id"]),
        *(f"ordering={value}" for value in ["__class__", "id__gt", "title__length", "?", "title,-"]),
        "deleted=maybe",
        "status=bogus",
        "created_after=yesterday",
    ]
    with refused(target) as check:
        for query in queries:
            check.expect(query[:80], target.send("GET", f"{URL}?{query}"), {400})
            if not query.startswith("cursor"):
                check.expect(f"offset {query[:80]}", target.send("GET", f"{URL}?offset=0&{query}"), {400})


def test_unknown_query_parameters_widen_nothing(target: Target) -> None:
    """Unknown parameters are ignored (docs/api.md lists the ones that mean something): none reaches a row."""
    listed = target.send("GET", f"{URL}?limit=500&tenant_id={GLOBEX}&tenant={GLOBEX}&deleted_at__isnull=false")
    assert listed.status == 200, listed.body
    assert target.globex_id not in {row["id"] for row in listed.json()["results"]}
    assert target.acme_deleted_id not in {row["id"] for row in listed.json()["results"]}
    detail = target.send("GET", f"{URL}{target.acme_ids[0]}/?fields=tenant_id,deleted_by&expand=tenant")
    assert detail.status == 200, detail.body
    assert "tenant_id" not in detail.json()
    foreign = target.send("GET", f"{URL}{target.globex_id}/?tenant_id={GLOBEX}")
    assert refusal_defects(foreign, {404}) == []


def test_repeated_query_parameters_are_400(target: Target) -> None:
    """Which of two values counts differs between a proxy, a cache and the app: a repeated parameter is refused."""
    queries = [
        "limit=1&limit=2",
        "deleted=false&deleted=true",
        "status=draft&status=published",
        "ordering=title&ordering=-title",
        "tag=a&tag=b",
        "offset=0&offset=1",
        "q=a&q=b",
    ]
    with refused(target) as check:
        for query in queries:
            for user in ("root", "bob"):
                tenant = ACME if user == "root" else None
                check.expect(f"{user} ?{query}", target.send("GET", f"{URL}?{query}", user=user, tenant=tenant), {400})


# --- tenants, tokens, ACLs -----------------------------------------------------------------------


def test_foreign_and_malformed_tenants_are_refused(target: Target) -> None:
    with refused(target) as check:
        for method, path in endpoints(target):
            body = b'{"title": "foreign"}' if method in {"POST", "PATCH"} else None
            if "bulk-upsert" in path:
                body = b'{"documents": [{"title": "foreign"}]}'
            for tenant in (GLOBEX, MASTER, str(uuid.uuid4())):
                answer = target.send(method, path, body, user="alice", tenant=tenant)
                check.expect(f"alice in {tenant} {method} {path}", answer, {403})
            for tenant in ("not-a-uuid", f"{ACME},{GLOBEX}", ACME + "\t" + GLOBEX, "x" * 2000):
                answer = target.send(method, path, body, user="alice", tenant=tenant)
                check.expect(f"alice tenant {tenant[:40]!r} {method} {path}", answer, {400, 403})
            answer = target.send(
                method,
                path,
                body,
                user="alice",
                tenant=None,
                headers=[("Accent-Tenant", ACME), ("Accent-Tenant", GLOBEX)],
            )
            check.expect(f"alice two Accent-Tenant headers {method} {path}", answer, {400, 403})


def test_no_tenant_reads_or_writes_another_tenants_rows(target: Target) -> None:
    acme = target.acme_ids[2]
    with refused(target) as check:
        for user, tenant in (("root", GLOBEX), ("bob", None)):
            for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "restore/")):
                for document_id in (acme, target.acme_deleted_id):
                    body = b'{"body": "from globex"}' if method == "PATCH" else None
                    answer = target.send(method, f"{URL}{document_id}/{suffix}", body, user=user, tenant=tenant)
                    check.expect(f"{user} {method} acme {document_id} {suffix}", answer, {403, 404})
    listed = target.send("GET", f"{URL}?limit=500", tenant=GLOBEX)
    assert {row["id"] for row in listed.json()["results"]} == {target.globex_id}
    deleted = target.send("GET", f"{URL}?deleted=true&limit=500", tenant=GLOBEX)
    assert deleted.json()["results"] == []
    # A bulk upsert in globex with acme's titles creates globex rows: acme's rows are untouched.
    acme_rows = [row for row in target.effects()[2] if row[1].replace("-", "") == ACME.replace("-", "")]
    upserted = target.send_json(
        "POST", f"{URL}bulk-upsert/", {"documents": [{"title": "acme 2", "body": "g"}]}, tenant=GLOBEX
    )
    assert upserted.status == 200, upserted.body
    assert upserted.json() == {"created": 1, "updated": 0}
    assert [row for row in target.effects()[2] if row[1].replace("-", "") == ACME.replace("-", "")] == acme_rows


def test_missing_unknown_expired_and_revoked_tokens_are_401(target: Target) -> None:
    expiring = _login(target.auth, "root", expiration=1)
    revoked_unused = _login(target.auth, "root")
    revoked_through_api = _login(target.auth, "root")
    assert target.send("GET", URL, headers=[("X-Auth-Token", revoked_through_api)], user=None).status == 200
    assert (
        target.send("DELETE", "/api/v1/auth/token", headers=[("X-Auth-Token", revoked_through_api)], user=None).status
        == 204
    )
    import httpx

    assert httpx.delete(f"{target.auth.url}/token/{revoked_unused}").status_code == 200
    time.sleep(1.2)  # `expiring` has expired (never used before: nothing cached)
    credentials: list[tuple[str, list[tuple[str, str]]]] = [
        ("none", []),
        ("unknown", [("X-Auth-Token", str(uuid.uuid4()))]),
        ("garbage", [("X-Auth-Token", "../../token")]),
        ("expired", [("X-Auth-Token", expiring)]),
        ("revoked", [("X-Auth-Token", revoked_unused)]),
        ("revoked through the API", [("X-Auth-Token", revoked_through_api)]),
        ("bearer without token", [("Authorization", "Bearer")]),
        ("bearer with two", [("Authorization", "Bearer a b")]),
        ("bearer unknown", [("Authorization", f"Bearer {uuid.uuid4()}")]),
        ("long", [("X-Auth-Token", "t" * 3000)]),
    ]
    with refused(target) as check:
        for method, path in endpoints(target):
            body = b'{"title": "tokenless"}' if method in {"POST", "PATCH"} else None
            for what, headers in credentials:
                answer = target.send(method, path, body, user=None, headers=headers)
                check.expect(f"{what} {method} {path}", answer, {401})
                if answer.status == 401 and "www-authenticate" not in answer.headers:
                    check.defects.append(f"{what} {method} {path}: 401 without WWW-Authenticate")
            answer = target.send(method, f"{path}?token={target.tokens['root']}", body, user=None)
            check.expect(f"token in the query {method} {path}", answer, {401})


def test_a_missing_acl_is_403_naming_it(target: Target) -> None:
    globex = f"{URL}{target.globex_id}/"
    acme = f"{URL}{target.acme_ids[1]}/"
    attempts = [
        ("bob", "POST", URL, b'{"title": "by bob"}', "documents.create"),
        ("bob", "PATCH", globex, b'{"body": "by bob"}', f"documents.{target.globex_id}.update"),
        ("bob", "DELETE", globex, None, f"documents.{target.globex_id}.delete"),
        ("bob", "POST", f"{globex}restore/", None, f"documents.{target.globex_id}.restore"),
        ("bob", "POST", f"{URL}bulk-upsert/", b'{"documents": [{"title": "by bob"}]}', "documents.upsert"),
        ("bob", "GET", f"{URL}?deleted=true", None, "documents.deleted.read"),
        ("bob", "GET", f"{URL}?deleted=TRUE", None, "documents.deleted.read"),
        ("bob", "GET", f"{URL}?deleted=%20true%20", None, "documents.deleted.read"),
        ("alice", "DELETE", acme, None, f"documents.{target.acme_ids[1]}.delete"),
        ("narrow", "GET", acme, None, f"documents.{target.acme_ids[1]}.read"),
        ("narrow", "GET", URL, None, "documents.read"),
        (
            "narrow",
            "PATCH",
            f"{URL}{target.acme_ids[0]}/",
            b'{"body": "narrow"}',
            f"documents.{target.acme_ids[0]}.update",
        ),
    ]
    assert target.send("GET", f"{URL}{target.acme_ids[0]}/", user="narrow", tenant=None).status == 200
    with refused(target) as check:
        for user, method, path, body, acl in attempts:
            answer = check.expect(
                f"{user} {method} {path}", target.send(method, path, body, user=user, tenant=None), {403}
            )
            if answer.status == 403 and answer.json().get("errors", {}).get("required_acl") not in (acl, [acl]):
                check.defects.append(f"{user} {method} {path}: required_acl is not {acl}: {answer.body!r}")
        for method in ("PUT", "TRACE", "CONNECT", "FOO"):
            check.expect(f"{method} {acme}", target.send(method, acme, b"{}"), {400, 405})
