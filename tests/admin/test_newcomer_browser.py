"""The newcomer's path in a real browser: `make run`'s server, the admin login, a stand-in token, Swagger UI.

It starts what `make run` starts (`scripts/dev.py run`: migrations, the dev superuser, the
stand-in Accent-Auth, the dev server) on free ports and a fresh database, then does what
docs/development.md and docs/accent-auth.md tell a newcomer: log into the admin with the dev
superuser, log in to the stand-in for a token, open /api/docs/, press Authorize, paste the
token, and "Try it out" on the documents list with the tenant header. Debian's Chromium, driven
by Playwright (tests/admin/test_admin_browser.py); nothing is downloaded.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.admin.test_admin_browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import REQUIRE_SERVICES
from tests.processes import clean_env, free_port, process_group, server_database

ACME = "00000000-0000-4000-8000-00000000000a"
DEV_PASSWORD = "newcomer-pass"


@pytest.fixture(scope="module")
def newcomer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`make run`'s command on free ports: (the service's URL, the stand-in's Accent-Auth URL)."""
    port, standin_port = free_port(), free_port()
    with server_database(tmp_path_factory.mktemp("newcomer"), "newcomer") as database:
        env = clean_env(DATABASE_URL=database, DEV_SUPERUSER_PASSWORD=DEV_PASSWORD)
        command = [sys.executable, "scripts/dev.py", "run", "--port", str(port), "--standin-port", str(standin_port)]
        with process_group(command, env=env) as process:  # the launcher, the dev server and the stand-in
            output: collections.deque[str] = collections.deque(maxlen=300)
            threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True).start()
            base, auth = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{standin_port}/0.1"
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, f"make run's command exited:\n{''.join(output)}"
                try:
                    httpx.get(f"{base}/health/live", timeout=1).raise_for_status()
                    httpx.head(f"{auth}/status", timeout=1)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, f"not serving in time:\n{''.join(output)}"
                    time.sleep(0.3)
            yield base, auth


@pytest.fixture
def browser_page(newcomer_server: tuple[str, str]) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if REQUIRE_SERVICES:
            pytest.fail("Debian's chromium is required in this run: apt-get install -y chromium")
        pytest.skip("needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright  # only where Chromium exists

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=newcomer_server[0])
        context.set_default_timeout(20_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


@pytest.mark.process
def test_a_newcomer_logs_into_the_admin_then_calls_the_api_from_swagger_ui_with_a_stand_in_token(
    newcomer_server: tuple[str, str], browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    _, auth = newcomer_server

    # 1. The admin, with the dev superuser `make run` created and printed.
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", DEV_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "Documents" in page.locator("#content-main").inner_text()

    # 2. A token from the stand-in, as docs/accent-auth.md shows it (curl -u alice:alice ... /token).
    login = httpx.post(f"{auth}/token", auth=("alice", "alice"), json={"expiration": 3600})
    token = login.json()["data"]["token"]

    # 3. Swagger UI: Authorize with the token.
    page.goto("/api/docs/")
    page.click("button.btn.authorize")
    dialog = page.locator(".modal-ux")
    dialog.locator("input[type=text]").first.fill(token)
    dialog.locator("button.btn.modal-btn.auth.authorize").first.click()
    dialog.locator("button.btn-done").first.click()

    # 4. "Try it out" on the documents list, in alice's tenant (the Accent-Tenant field).
    operation = page.locator('[id^="operations-"][id$="-documents_list"]')
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator('tr[data-param-name="Accent-Tenant"] input').fill(ACME)
    with page.expect_response(lambda response: "/api/v1/documents/" in response.url) as answered:
        operation.locator("button.execute").click()
    response = answered.value
    assert response.request.headers.get("x-auth-token") == token
    assert response.request.headers.get("accent-tenant") == ACME
    assert response.status == 200

    # What the page shows: status 200 and the JSON page.
    live = operation.locator(".live-responses-table tbody")
    live.locator(".response-col_status").first.wait_for()
    assert live.locator(".response-col_status").first.inner_text().strip() == "200"
    body = json.loads(live.locator(".response-col_description pre").first.inner_text())
    assert body["results"] == []
    assert set(body) >= {"next", "previous", "next_cursor", "previous_cursor"}
    page.screenshot(path=str(tmp_path / "swagger-try-it-out.png"), full_page=True)
