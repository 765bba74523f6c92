"""`/ws/v1/events/` and `/ws/graphql/` served by a real uvicorn process, events of real writes via the outbox path.

On the embedded default (in-memory channel layer, eager Celery) the server's own writes reach its
sockets. With `REDIS_URL` and `CELERY_BROKER_URL` (CI), the whole path runs across processes:
the writer (the server, or a `manage.py shell` standing for the admin or a script) commits, the
relay publishes to RabbitMQ, a real Celery worker handles the event and sends it to the Redis
channel layer, and the uvicorn process writes it to its sockets.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from project.asgi_server import uvicorn_options
from project.environment import EnvReader
from tests.docs_snippets import python_blocks, run_blocks
from tests.events.conftest import delete_declared, queue_names
from tests.processes import (
    ROOT,
    celery_worker,
    clean_env,
    free_port,
    manage,
    running_server,
    server_database,
    stop_process,
)
from tests.realtime.test_consumer import ACME, acl_of

WAIT = 30.0  # seconds: bound of every wait for a frame that must come
QUIET = 1.5  # seconds a socket listens to prove that nothing arrives
MAX_FRAME_BYTES = 4096  # REALTIME_MAX_FRAME_BYTES's default, which the servers here run with
CLOSE_MESSAGE_TOO_BIG = 1009


@dataclass
class Stack:
    base_url: str
    env: dict[str, str]
    cross_process: bool  # Redis channel layer and a broker with a worker: writes in any process reach sockets

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws/v1/events/"

    @property
    def graphql_ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws/graphql/"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, accent_auth_standin: Any) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("realtime")
    suffix = uuid.uuid4().hex[:8]
    redis_url, broker_url = os.environ.get("REDIS_URL"), os.environ.get("CELERY_BROKER_URL")
    with server_database(directory, "realtime") as database_url:
        env = clean_env(
            DATABASE_URL=database_url,
            ACCENT_AUTH_URL=accent_auth_standin.url,
            RATE_LIMIT_ENABLED="false",
            REALTIME_REVALIDATE_SECONDS="0.5",
            CACHE_KEY_PREFIX=f"rt-{suffix}",
            CHANNEL_LAYER_PREFIX=f"rt-{suffix}:ws",
        )
        names = queue_names(suffix)
        if redis_url:
            env["REDIS_URL"] = redis_url
        if broker_url:
            env.update(names, CELERY_BROKER_URL=broker_url)
        migrated = manage("migrate", "--noinput", env=env, timeout=180)
        assert migrated.returncode == 0, migrated.stderr
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--no-access-log", *uvicorn_options(EnvReader(env))]
        cross_process = bool(redis_url and broker_url)
        try:
            with contextlib.ExitStack() as running:
                if broker_url:
                    running.enter_context(
                        celery_worker(queue_name=names["EVENTS_QUEUE"], include="apps.events.tasks", env=env)
                    )
                    # The relay process of production (deploy/k8s relay.yaml): what a short-lived writer
                    # (a script that exits before its on-commit relay ran) leaves pending, it sends.
                    relay = [sys.executable, "manage.py", "events_relay"]
                    loop = subprocess.Popen(
                        relay, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
                    )
                    running.callback(stop_process, loop)
                base_url = running.enter_context(running_server(command, port=port, env=env, ready_path="/health/live"))
                yield Stack(base_url, env, cross_process)
        finally:
            if broker_url:
                delete_declared(broker_url, names)


def login(accent_auth_standin: Any, username: str) -> str:
    response = httpx.post(f"{accent_auth_standin.url}/token", auth=(username, username), json={"expiration": 300})
    response.raise_for_status()
    return str(response.json()["data"]["token"])


@contextlib.contextmanager
def subscriber(stack: Stack, token: str) -> Iterator[ClientConnection]:
    with connect(stack.ws_url, additional_headers={"X-Auth-Token": token}, open_timeout=10) as socket:
        assert frame(socket)["type"] == "authenticated"
        socket.send(orjson.dumps({"type": "subscribe", "stream": "documents"}).decode())
        assert frame(socket) == {"type": "subscribed", "stream": "documents"}
        yield socket


def frame(socket: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(socket.recv(timeout=timeout))
    return parsed


def nothing_arrives(socket: ClientConnection) -> bool:
    try:
        socket.recv(timeout=QUIET)
    except TimeoutError:
        return True
    return False


def create_document(stack: Stack, token: str, title: str) -> str:
    response = httpx.post(
        f"{stack.base_url}/api/v1/documents/", headers={"X-Auth-Token": token}, json={"title": title}, timeout=10
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def close_code(socket: ClientConnection) -> int | None:
    """Read until the server closes; the code it closed with (None: no close frame)."""
    try:
        while True:
            socket.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def oversized_message_close(
    ws_url: str, max_bytes: int = MAX_FRAME_BYTES, subprotocols: list[Subprotocol] | None = None
) -> tuple[int | None, dict[str, Any]]:
    """What the server does with messages around the bound: the close code of one announced beyond it, sent unfinished.

    First a ping padded to exactly `max_bytes` (answered: the bound is inclusive). Then a text frame's
    header announcing 1 MiB (under uvicorn's own 16 MiB default), followed by 16 bytes of it and nothing
    more: a server that would buffer the message waits for the rest (no close: the wait times out); one
    that knows the bound closes at once, unread.
    """
    with connect(ws_url, open_timeout=10, subprotocols=subprotocols) as socket:
        socket.send(b'{"type": "ping"}'.ljust(max_bytes).decode())
        answer = frame(socket)
        announced = 1 << 20
        header = bytes([0x81, 0x80 | 127]) + announced.to_bytes(8, "big") + os.urandom(4)  # FIN text, masked
        socket.socket.sendall(header + b"x" * 16)
        try:
            socket.recv(timeout=5)
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd is not None else None), answer
        except TimeoutError:
            return None, answer
        raise AssertionError("the server answered a frame it could not have read")


def event_of(socket: ClientConnection) -> dict[str, Any]:
    received = frame(socket)
    assert received["type"] == "event", received
    event: dict[str, Any] = received["event"]
    return event


def test_each_tenant_receives_only_its_own_events(stack: Stack, accent_auth_standin: Any) -> None:
    alice = login(accent_auth_standin, "alice")
    with acl_of(accent_auth_standin, "bob", ["documents.#"]):
        bob = login(accent_auth_standin, "bob")
    with subscriber(stack, alice) as acme, subscriber(stack, bob) as globex:
        acme_id = create_document(stack, alice, f"acme plan {uuid.uuid4()}")
        globex_id = create_document(stack, bob, f"globex plan {uuid.uuid4()}")
        acme_event, globex_event = event_of(acme), event_of(globex)
        assert (acme_event["type"], acme_event["aggregate_id"], acme_event["tenant"]) == (
            "document.created",
            acme_id,
            str(ACME),
        )
        assert (globex_event["type"], globex_event["aggregate_id"]) == ("document.created", globex_id)
        assert nothing_arrives(acme)
        assert nothing_arrives(globex)


def test_a_socket_without_the_documents_read_acl_gets_nothing(stack: Stack, accent_auth_standin: Any) -> None:
    alice = login(accent_auth_standin, "alice")
    with acl_of(accent_auth_standin, "alice", ["documents.events.read"]):
        blind = login(accent_auth_standin, "alice")
    with subscriber(stack, alice) as sees, subscriber(stack, blind) as does_not:
        created = create_document(stack, alice, f"secret {uuid.uuid4()}")
        assert event_of(sees)["aggregate_id"] == created, "the event was delivered to the tenant's group"
        assert nothing_arrives(does_not)


def test_an_event_written_by_another_process_arrives(
    stack: Stack, accent_auth_standin: Any, redis_url: str, broker_url: str
) -> None:
    """Needs Redis and a broker (skipped on the embedded default): in-memory layer and eager Celery are one process."""
    assert stack.cross_process
    alice = login(accent_auth_standin, "alice")
    title = f"from a script {uuid.uuid4()}"
    script = (
        "from apps.core.context import acting_as, in_tenant\n"
        "from apps.documents.services import document_create\n"
        f"with in_tenant({str(ACME)!r}), acting_as('script'):\n"
        f"    print(document_create(title={title!r}).pk)\n"
    )
    with subscriber(stack, alice) as socket:
        result = manage("shell", "-c", script, env=stack.env, timeout=60)
        assert result.returncode == 0, result.stderr
        event = event_of(socket)
        assert event["aggregate_id"] == result.stdout.strip().splitlines()[-1]
        assert event["actor"] == "script"
        assert event["payload"]["title"] == title


def test_a_revoked_token_closes_its_socket(stack: Stack, accent_auth_standin: Any) -> None:
    token = login(accent_auth_standin, "alice")
    with subscriber(stack, token) as socket:
        revoked = httpx.delete(f"{stack.base_url}/api/v1/auth/token", headers={"X-Auth-Token": token}, timeout=10)
        assert revoked.status_code in (200, 204), revoked.text
        closing = frame(socket, timeout=10)
        assert closing["type"] == "closing"
        assert closing["code"] == 4401
        assert close_code(socket) == 4401


def test_a_bad_token_is_closed_with_4401_and_a_missing_acl_with_4403(stack: Stack, accent_auth_standin: Any) -> None:
    with connect(stack.ws_url, additional_headers={"X-Auth-Token": "forged"}, open_timeout=10) as socket:
        assert close_code(socket) == 4401
    with acl_of(accent_auth_standin, "alice", ["documents.read"]):
        token = login(accent_auth_standin, "alice")
    with connect(stack.ws_url, open_timeout=10) as socket:
        socket.send(orjson.dumps({"type": "auth", "token": token}).decode())
        assert frame(socket)["type"] == "authenticated"
        socket.send(orjson.dumps({"type": "subscribe", "stream": "documents"}).decode())
        assert close_code(socket) == 4403


def test_the_production_command_serves_sockets_under_gunicorn(stack: Stack, accent_auth_standin: Any) -> None:
    """What docs/realtime.md deploys for /ws/: the image's gunicorn config with uvicorn workers, bounded as uvicorn."""
    port = free_port()
    env = {
        **stack.env,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    command = [sys.executable, "-m", "gunicorn", "--config", "python:project.gunicorn_config"]
    command += ["-k", "project.asgi_worker.UvicornWorker", "project.asgi:application"]
    token = login(accent_auth_standin, "alice")
    with running_server(command, port=port, env=env, ready_path="/health/live") as base_url:
        production = Stack(base_url, env, stack.cross_process)
        with subscriber(production, token) as socket:
            socket.send(orjson.dumps({"type": "ping"}).decode())
            assert frame(socket) == {"type": "pong"}
        assert oversized_message_close(production.ws_url) == (CLOSE_MESSAGE_TOO_BIG, {"type": "pong"})


@pytest.mark.parametrize("socket_path", ["/ws/v1/events/", "/ws/graphql/"])
def test_uvicorn_closes_a_message_beyond_the_frame_bound_with_1009_before_reading_it(
    stack: Stack, socket_path: str
) -> None:
    """Both sockets: graphql-transport-ws has a `ping` of the same spelling, answered by a `pong`."""
    ws_url = stack.base_url.replace("http://", "ws://") + socket_path
    protocols = [Subprotocol("graphql-transport-ws")] if socket_path == "/ws/graphql/" else None
    assert oversized_message_close(ws_url, subprotocols=protocols) == (CLOSE_MESSAGE_TOO_BIG, {"type": "pong"})


def test_the_docs_python_client_runs_against_the_server(stack: Stack, accent_auth_standin: Any) -> None:
    setup = f"BASE = {stack.base_url.replace('http://', 'ws://')!r}\nTOKEN = {login(accent_auth_standin, 'alice')!r}"
    client = next(block for block in python_blocks("realtime.md") if "connect(" in block)
    namespace = run_blocks("realtime.md", [setup, client])
    assert namespace["hello"]["type"] == "authenticated"
    assert namespace["subscribed"] == {"type": "subscribed", "stream": "documents"}
    assert namespace["pong"] == {"type": "pong"}


def test_the_docs_stream_declaration_is_the_documents_own() -> None:
    declaration = next(block for block in python_blocks("realtime.md") if "declare_stream(" in block)
    source = (ROOT / "apps" / "documents" / "realtime.py").read_text()
    assert declaration.split("\n\n")[-1].strip() in source, "the declaration as the file has it"
    assert all(line in source.splitlines() for line in declaration.splitlines() if line.startswith("from "))


def test_the_docs_graphql_example_runs_against_the_server(stack: Stack, accent_auth_standin: Any) -> None:
    """GraphQL served by the ASGI application (uvicorn), the request's token and tenant included."""
    setup = f"BASE = {stack.base_url!r}\nTOKEN = {login(accent_auth_standin, 'alice')!r}"
    namespace = run_blocks("graphql.md", [setup, *python_blocks("graphql.md")])
    created = namespace["created"]["data"]["createDocument"]
    assert (created["title"], created["status"], created["tags"]) == ("Written from the docs", "DRAFT", ["docs"])
    nodes = [edge["node"] for edge in namespace["page"]["data"]["documents"]["edges"]]
    assert [(node["id"], node["createdBy"]) for node in nodes] == [
        (created["id"], "00000000-0000-4000-9000-00000000000a")
    ]
    assert namespace["anonymous"]["errors"][0]["extensions"]["code"] == "not_authenticated"
    assert namespace["ack"]["type"] == "connection_ack"
    assert namespace["ack"]["payload"]["tenant"] == str(ACME)
    assert namespace["pong"] == {"type": "pong"}
    announced = namespace["announced"]
    assert (announced["type"], announced["id"]) == ("next", "1"), announced
    event = announced["payload"]["data"]["documentEvents"]
    assert (event["type"], event["payload"]["title"]) == ("document.created", "Announced over GraphQL")


# -- GraphQL subscriptions (graphql-transport-ws) ------------------------------------------------------

SUBSCRIBE = "subscription { documentEvents { type documentId actor payload } }"
PROTOCOLS = [Subprotocol("graphql-transport-ws")]


def send(socket: ClientConnection, message: dict[str, Any]) -> None:
    socket.send(orjson.dumps(message).decode())


@contextlib.contextmanager
def graphql_subscriber(stack: Stack, token: str) -> Iterator[ClientConnection]:
    """A live `documentEvents` subscription: the protocol has no "subscribed", so wait for an event of our own."""
    with connect(stack.graphql_ws_url, subprotocols=PROTOCOLS, open_timeout=10) as socket:
        send(socket, {"type": "connection_init", "payload": {"token": token}})
        assert frame(socket)["type"] == "connection_ack"
        send(socket, {"id": "docs", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        for _ in range(10):
            warm_up = create_document(stack, token, f"warm-up {uuid.uuid4()}")
            with contextlib.suppress(TimeoutError):
                while graphql_event(socket, timeout=3)["documentId"] != warm_up:
                    pass
                break
        else:
            raise AssertionError("the subscription never received an event")
        yield socket


def graphql_event(socket: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    received = frame(socket, timeout=timeout)
    assert received["type"] == "next", received
    event: dict[str, Any] = received["payload"]["data"]["documentEvents"]
    return event


def test_graphql_subscribers_each_receive_their_tenants_events_from_real_writes(
    stack: Stack, accent_auth_standin: Any
) -> None:
    alice = login(accent_auth_standin, "alice")
    with acl_of(accent_auth_standin, "bob", ["documents.#"]):
        bob = login(accent_auth_standin, "bob")
    with graphql_subscriber(stack, alice) as acme, graphql_subscriber(stack, bob) as globex:
        acme_id = create_document(stack, alice, f"acme plan {uuid.uuid4()}")
        globex_id = create_document(stack, bob, f"globex plan {uuid.uuid4()}")
        acme_event, globex_event = graphql_event(acme), graphql_event(globex)
        assert (acme_event["type"], acme_event["documentId"]) == ("document.created", acme_id)
        assert (globex_event["type"], globex_event["documentId"]) == ("document.created", globex_id)
        assert nothing_arrives(acme)
        assert nothing_arrives(globex)


def test_graphql_subscriptions_refuse_a_bad_token_a_missing_acl_and_a_malformed_message(
    stack: Stack, accent_auth_standin: Any
) -> None:
    with connect(stack.graphql_ws_url, subprotocols=PROTOCOLS, open_timeout=10) as socket:
        send(socket, {"type": "connection_init", "payload": {"token": "forged"}})
        assert close_code(socket) == 4403
    with acl_of(accent_auth_standin, "alice", ["documents.read", "documents.*.read", "!documents.events.read"]):
        token = login(accent_auth_standin, "alice")
    with connect(stack.graphql_ws_url, subprotocols=PROTOCOLS, open_timeout=10) as socket:
        send(socket, {"type": "connection_init", "payload": {"token": token}})
        assert frame(socket)["type"] == "connection_ack"
        send(socket, {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        refused = frame(socket)
        assert (refused["type"], refused["payload"][0]["extensions"]["code"]) == ("error", "permission_denied")
        socket.send("[1, 2]")
        assert close_code(socket) == 4400
