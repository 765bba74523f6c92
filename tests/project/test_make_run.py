"""The README's `make run`: migrates, creates the dev superuser, serves the app and a stand-in Accent-Auth."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from websockets.sync.client import connect

from tests.processes import (
    ROOT,
    TcpProxy,
    clean_env,
    copy_checkout,
    free_port,
    process_group,
    running_server,
    server_database,
)
from tests.realtime.test_server import oversized_message_close


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    port, standin_port = free_port(), free_port()
    database = tmp_path_factory.mktemp("make-run") / "db.sqlite3"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}", DEV_SUPERUSER_PASSWORD="dev-pass")
    command = ["make", "--no-print-directory", "run", f"PORT={port}", f"STANDIN_PORT={standin_port}"]
    base = f"http://127.0.0.1:{port}"
    with process_group(command, env=env) as process:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(f"make run exited: {process.stdout.read() if process.stdout else ''}")
            try:
                httpx.get(f"{base}/health/live", timeout=1)
                httpx.head(f"http://127.0.0.1:{standin_port}/0.1/status", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "make run did not serve in time"
                time.sleep(0.2)
        yield base, f"http://127.0.0.1:{standin_port}/0.1", str(database)


def test_make_run_serves_the_admin_login_and_the_schema(make_run: tuple[str, str, str]) -> None:
    base, _, database = make_run
    assert httpx.get(f"{base}/admin/login/", timeout=30).status_code == 200
    assert (
        httpx.get(f"{base}/api/schema/", headers={"Accept": "application/json"}, timeout=30)
        .json()["openapi"]
        .startswith("3.")
    )
    assert Path(database).exists()


def test_make_run_creates_the_dev_superuser_who_can_log_in(make_run: tuple[str, str, str]) -> None:
    base, _, _ = make_run
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        login_page = browser.get("/admin/login/")
        token = login_page.cookies["csrftoken"]
        response = browser.post(
            "/admin/login/?next=/admin/",
            data={"username": "admin", "password": "dev-pass", "csrfmiddlewaretoken": token, "next": "/admin/"},
            headers={"Referer": f"{base}/admin/login/"},
        )
        assert response.status_code == 302
        assert response.headers["Location"] == "/admin/"


def test_make_run_serves_a_stand_in_accent_auth_whose_tokens_the_api_accepts(make_run: tuple[str, str, str]) -> None:
    base, auth_url, _ = make_run
    token = httpx.post(f"{auth_url}/token", auth=("alice", "alice"), json={}, timeout=30).json()["data"]["token"]
    response = httpx.get(f"{base}/api/v1/documents/", headers={"X-Auth-Token": token}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["results"] == []


# --- the newcomer details: make help, .env, a missing broker, a database that is down ----------------


@pytest.mark.process
def test_make_help_lists_every_target_with_its_line() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE)
    described = dict(re.findall(r"^([a-z][a-z-]*):.*## (.+)$", makefile, re.MULTILINE))
    assert set(targets) == set(described), "every target has a `## line` for make help"
    assert {"run", "worker", "beat", "feature", "test", "rename", "help"} <= set(targets)
    shown = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    lines = shown.stdout.splitlines()
    assert [line.split()[0] for line in lines] == targets
    assert all(described[line.split()[0]] in line for line in lines)


@pytest.mark.process
@pytest.mark.parametrize(
    ("target", "broker", "message"),
    [
        ("worker", "", "CELERY_BROKER_URL is not set: a worker or beat on memory:// would run nothing"),
        ("beat", "", "CELERY_BROKER_URL is not set"),
        (
            "worker",
            "amqp://guest:guest@127.0.0.1:{port}/h0",
            "no broker answers at CELERY_BROKER_URL (amqp://127.0.0.1:",
        ),
        ("beat", "redis://127.0.0.1:{port}/0", "no broker answers at CELERY_BROKER_URL (redis://127.0.0.1:"),
    ],
)
def test_make_worker_and_beat_refuse_without_a_real_broker(target: str, broker: str, message: str) -> None:
    # Set even when empty: the environment wins over a developer's .env.
    env = clean_env(CELERY_BROKER_URL=broker.format(port=free_port()))
    result = subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    refusals = [line for line in result.stderr.splitlines() if line.startswith("dev.py: ")]
    assert len(refusals) == 1, result.stderr
    assert message in refusals[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_dot_env_is_read_and_the_environment_wins_over_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts.dev import read_dotenv

    dotenv = tmp_path / ".env"
    dotenv.write_text("F19_ONLY_IN_FILE=from-file\nF19_IN_BOTH=from-file\n")
    monkeypatch.setenv("F19_IN_BOTH", "from-environment")
    try:
        assert read_dotenv(dotenv) is True
        assert os.environ["F19_ONLY_IN_FILE"] == "from-file"
        assert os.environ["F19_IN_BOTH"] == "from-environment"
    finally:
        os.environ.pop("F19_ONLY_IN_FILE", None)
    assert read_dotenv(tmp_path / "absent.env") is False


@pytest.mark.process
def test_make_run_with_postgresql_down_serves_says_so_in_one_line_and_migrates_once_it_answers(
    tmp_path: Path,
) -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("needs a PostgreSQL server (DATABASE_URL) to stand in for the one that comes up")
    with server_database(tmp_path, "make_run_down") as url:
        proxy = TcpProxy(_host_port(url))  # not started: nothing answers on its port
        port, standin_port = free_port(), free_port()
        env = clean_env(DATABASE_URL=proxy.url(url), DATABASE_CONNECT_TIMEOUT="1", DEV_SUPERUSER_PASSWORD="dev-pass")
        command = ["make", "--no-print-directory", "run", f"PORT={port}", f"STANDIN_PORT={standin_port}"]
        with process_group(command, env=env) as process:
            output: list[str] = []
            threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True).start()
            base = f"http://127.0.0.1:{port}"
            try:
                _wait_for(lambda: httpx.get(f"{base}/health/live", timeout=5).status_code == 200, process, output)
                assert httpx.get(f"{base}/health/ready", timeout=30).json()["checks"]["database"] == "failing"
                # The line comes from the launcher's database thread and the reader thread passes it on:
                # serving does not wait for either, so poll for it (`in`: the pipe is shared with uvicorn).
                expected = "Waiting: the database (DATABASE_URL, postgresql at 127.0.0.1:"
                _wait_for(lambda: any(expected in line for line in output), process, output)
                waiting = [line for line in output if "is not answering" in line]
                assert len(waiting) == 1, "".join(output)  # the launcher's line, once
                proxy.start()
                _wait_for(lambda: any("Development superuser created" in line for line in output), process, output)
                assert httpx.get(f"{base}/health/ready", timeout=30).status_code == 200
                with psycopg.connect(url) as connection:
                    assert connection.execute("SELECT count(*) FROM django_migrations").fetchone() != (0,)
                waiting = [line for line in output if "is not answering" in line]
                assert len(waiting) == 1, "".join(output)  # still once, after every retry while it was down
                assert not any("Traceback" in line for line in output), "".join(output)
            finally:
                proxy.stop()


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], output: list[str]) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, f"make run exited:\n{''.join(output)}"
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"timed out:\n{''.join(output)}"
        time.sleep(0.3)


@pytest.mark.process
def test_make_run_reads_dot_env_and_the_environment_wins_over_it(tmp_path: Path) -> None:
    """In a copy of the checkout: its `.env` names the database and the dev superuser's password."""
    copy = copy_checkout(tmp_path / "service")
    database = tmp_path / "from-dotenv.sqlite3"
    (copy / ".env").write_text(
        f"DATABASE_URL=sqlite:///{database}\nDEV_SUPERUSER_PASSWORD=from-dotenv\nDEV_SUPERUSER_USERNAME=from-dotenv\n"
    )
    port = free_port()
    env = clean_env(DEV_SUPERUSER_USERNAME="from-environment")
    for name in ("DATABASE_URL", "DEV_SUPERUSER_PASSWORD"):
        env.pop(name, None)
    command = [sys.executable, "scripts/dev.py", "run", "--port", str(port), "--no-standin"]
    with (
        running_server(command, port=port, env=env, ready_path="/health/live", cwd=copy) as base,
        httpx.Client(base_url=base, follow_redirects=False) as browser,
    ):
        token = browser.get("/admin/login/").cookies["csrftoken"]
        response = browser.post(
            "/admin/login/?next=/admin/",
            data={"username": "from-environment", "password": "from-dotenv", "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/admin/login/"},
        )
        assert response.status_code == 302, "the superuser is the environment's name with the file's password"
    assert database.exists(), "DATABASE_URL came from .env"


def test_make_run_bounds_websocket_messages_in_uvicorn(make_run: tuple[str, str, str]) -> None:
    """uvicorn itself closes a message beyond REALTIME_MAX_FRAME_BYTES with 1009, before reading it."""
    base, _, _ = make_run
    assert oversized_message_close(base.replace("http://", "ws://") + "/ws/v1/events/") == (1009, {"type": "pong"})


def test_make_run_serves_websockets_and_a_write_notifies_its_subscriber(make_run: tuple[str, str, str]) -> None:
    """Last of the tests on `make_run` (it writes a document).

    One process on the embedded default: the in-memory channel layer, eager Celery (docs/realtime.md).
    """
    base, standin, _ = make_run
    token = httpx.post(f"{standin}/token", auth=("alice", "alice"), json={}, timeout=30).json()["data"]["token"]
    with connect(base.replace("http://", "ws://") + "/ws/v1/events/", open_timeout=10) as socket:
        socket.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(socket.recv(timeout=10))["type"] == "authenticated"
        socket.send(json.dumps({"type": "subscribe", "stream": "documents"}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "subscribed", "stream": "documents"}
        created = httpx.post(
            f"{base}/api/v1/documents/",
            headers={"X-Auth-Token": token},
            json={"title": f"make run {time.time()}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        event = json.loads(socket.recv(timeout=20))["event"]
        assert (event["type"], event["aggregate_id"]) == ("document.created", created.json()["id"])
