"""The README's `make run`: migrates, creates the dev superuser, serves the app and a stand-in Accent-Auth."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import ROOT, clean_env, free_port


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    port, standin_port = free_port(), free_port()
    database = tmp_path_factory.mktemp("make-run") / "db.sqlite3"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}", DEV_SUPERUSER_PASSWORD="dev-pass")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}", f"STANDIN_PORT={standin_port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # one process group: make, the dev server and the stand-in
    )
    base = f"http://127.0.0.1:{port}"
    try:
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
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_make_run_serves_the_admin_login_and_the_schema(make_run: tuple[str, str, str]) -> None:
    base, _, database = make_run
    assert httpx.get(f"{base}/admin/login/").status_code == 200
    assert httpx.get(f"{base}/api/schema/", headers={"Accept": "application/json"}).json()["openapi"].startswith("3.")
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
    token = httpx.post(f"{auth_url}/token", auth=("alice", "alice"), json={}).json()["data"]["token"]
    response = httpx.get(f"{base}/api/v1/documents/", headers={"X-Auth-Token": token})
    assert response.status_code == 200, response.text
    assert response.json()["results"] == []
