"""Twenty honest clients at once against gunicorn: mixed writes on overlapping documents, with If-Match.

Each client reads a document and PATCHes (some renaming it to a title another document may
hold), DELETEs or restores it with the ETag it read, or bulk-upserts titles the others write
too; every write carries its own `X-Request-ID`, which
the audit events and outbox rows it writes record. Afterwards, from the server's database:

- no answer was a 5xx, and PostgreSQL counted no deadlock;
- every 2xx write left exactly one outbox row and one audit event per row it wrote (a bulk
  upsert: one per document), every 4xx left none;
- replaying each document's audit diffs in order reproduces the row as it is, and each diff's
  "before" is the previous diff's "after" (no write was made over a version it did not see).

Bounded: 20 clients x 12 operations on loopback, well under a minute.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.races import at_once
from tests.security.conftest import ServedDatabase, served_api

ACME = "00000000-0000-4000-8000-00000000000a"
URL = "/api/v1/documents/"
CLIENTS = 20
OPERATIONS = 12
TITLES = [f"shared {n}" for n in range(4)]
REPLAYED = ("title", "body", "status", "tags")


@dataclass(frozen=True)
class Write:
    request_id: str
    operation: str  # patch, delete, restore, upsert
    status: int
    rows: int = 1  # documents a bulk upsert wrote (created + updated)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, accent_auth_standin: Any) -> Iterator[dict[str, Any]]:
    accent_auth_standin.reset()
    login = httpx.post(f"{accent_auth_standin.url}/token", auth=("root", "root"), json={"expiration": 3600})
    token = login.json()["data"]["token"]
    directory = tmp_path_factory.mktemp("clients")
    with served_api(directory, accent_auth_url=accent_auth_standin.url, workers=2, threads=8) as (base_url, database):
        headers = {"X-Auth-Token": token, "Accent-Tenant": ACME}
        ids = []
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
            for title in TITLES:
                created = http.post(URL, json={"title": title, "tags": ["seed"]})
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])
        yield {"base_url": base_url, "headers": headers, "database": database, "ids": ids}


def deadlocks(database: ServedDatabase) -> int:
    if not database.url.startswith("postgres"):
        return 0
    ((count,),) = database.rows("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    return int(count)


def run_client(number: int, served: dict[str, Any], writes: list[Write], statuses: list[int]) -> None:
    """One honest client: reads what it writes over, sends the ETag it read, retries nothing."""
    chooser = random.Random(number)
    known_etags: dict[str, str] = {}
    with httpx.Client(base_url=served["base_url"], headers=served["headers"], timeout=60) as http:
        for step in range(OPERATIONS):
            request_id = f"client-{number}-{step}-{uuid.uuid4().hex[:6]}"
            try:
                _operate(http, chooser, served["ids"], known_etags, request_id, writes, statuses)
            except httpx.HTTPError as error:
                raise AssertionError(f"{request_id}: {error!r}") from error


def _operate(
    http: httpx.Client,
    chooser: random.Random,
    ids: list[str],
    known_etags: dict[str, str],
    request_id: str,
    writes: list[Write],
    statuses: list[int],
) -> None:
    """One step of a client: a bulk upsert, or a read and then a conditional PATCH, DELETE or restore."""
    operation = chooser.choice(["patch", "patch", "delete", "restore", "upsert"])
    document_id = chooser.choice(ids)
    path = f"{URL}{document_id}/"
    if operation == "upsert":
        titles = chooser.sample(TITLES, chooser.randint(1, 2))
        rows = [{"title": title, "body": request_id, "tags": [request_id]} for title in titles]
        answer = http.post(f"{URL}bulk-upsert/", json={"documents": rows}, headers={"X-Request-ID": request_id})
        written = sum(answer.json().values()) if answer.status_code == 200 else 0
        writes.append(Write(request_id, operation, answer.status_code, written))
        statuses.append(answer.status_code)
        return
    read = http.get(path, headers={"X-Request-ID": f"read-{request_id}"})
    statuses.append(read.status_code)
    if read.status_code == 200:
        known_etags[document_id] = read.headers["ETag"]
    elif operation != "restore":
        operation = "restore"  # deleted: bring it back instead
    etag = known_etags.get(document_id, "*")
    conditional = {"X-Request-ID": request_id, "If-Match": etag}
    if operation == "patch":
        # Some renames, to a title another document may hold: a 409 (or a lost race to the constraint).
        title = {"title": chooser.choice([*TITLES, f"renamed {request_id}"])} if chooser.random() < 0.3 else {}
        answer = http.patch(path, json={"body": request_id, "tags": [request_id], **title}, headers=conditional)
    elif operation == "delete":
        answer = http.delete(path, headers=conditional)
    else:
        answer = http.post(f"{path}restore/", headers=conditional)
    writes.append(Write(request_id, operation, answer.status_code))
    statuses.append(answer.status_code)


def test_twenty_clients_writing_the_same_documents_leave_a_consistent_audited_state(served: dict[str, Any]) -> None:
    database: ServedDatabase = served["database"]
    deadlocks_before = deadlocks(database)
    writes: list[Write] = []
    statuses: list[int] = []
    errors = at_once(lambda number: run_client(number, served, writes, statuses), CLIENTS)
    assert not errors, errors[:3]
    assert not [status for status in statuses if status >= 500], Counter(statuses)
    assert deadlocks(database) == deadlocks_before

    outcomes = Counter((write.operation, write.status) for write in writes)
    assert {status for _, status in outcomes} <= {200, 204, 404, 409, 412}, outcomes
    # They really raced: some writes won, some lost to another client's write.
    assert any(status == 412 for _, status in outcomes), outcomes
    assert any(status in {200, 204} for _, status in outcomes), outcomes

    audit: dict[str, list[tuple[Any, ...]]] = {}
    for row in database.rows("SELECT request_id, action, object_pk, changes, id FROM core_auditevent"):
        audit.setdefault(row[0], []).append(row)
    outbox = Counter(request_id for (request_id,) in database.rows("SELECT request_id FROM events_outbox"))
    wrong = []
    for write in writes:
        events = len(audit.get(write.request_id, []))
        expected = (write.rows, 1) if write.status < 400 else (0, 0)
        if (events, outbox[write.request_id]) != expected:
            wrong.append(f"{write}: {events} audit events, {outbox[write.request_id]} outbox rows, want {expected}")
    assert not wrong, "\n".join(wrong)
    assert not [key for key in audit if key.startswith("read-")]  # reads write nothing

    replay_defects = replayed_state_defects(database)
    assert not replay_defects, "\n".join(replay_defects)


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def replayed_state_defects(database: ServedDatabase) -> list[str]:
    """Each document's audit diffs, replayed in order, against its row: what does not add up."""
    events: dict[str, list[tuple[int, str, dict[str, list[Any]]]]] = {}
    for action, object_pk, changes, event_id in database.rows(
        "SELECT action, object_pk, changes, id FROM core_auditevent WHERE model_label = 'documents.document'"
    ):
        events.setdefault(str(object_pk), []).append((int(event_id), action, _decoded(changes)))
    defects = []
    rows = database.rows("SELECT id, title, body, status, tags, deleted_at FROM documents_document")
    for document_id, title, body, status, tags, deleted_at in rows:
        key = str(uuid.UUID(str(document_id)))
        state: dict[str, Any] = {}
        deleted = False
        for event_id, action, changes in sorted(events.get(key, [])):
            for name in REPLAYED:
                if name not in changes:
                    continue
                before, after = changes[name]
                if name in state and state[name] != before:
                    defects.append(
                        f"{key} event {event_id} ({action}): {name} was {state[name]!r}, diff says {before!r}"
                    )
                state[name] = after
            deleted = {"soft_delete": True, "restore": False}.get(action, deleted)
        actual = {"title": title, "body": body, "status": status, "tags": _decoded(tags)}
        if {name: state.get(name) for name in REPLAYED} != actual or deleted != (deleted_at is not None):
            defects.append(f"{key}: replayed {state} deleted={deleted}, row {actual} deleted_at={deleted_at}")
    return defects
