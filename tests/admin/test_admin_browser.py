"""The admin in a real browser: headless Debian Chromium driven by Playwright against a live server.

Chromium comes from the distribution (`apt-get install chromium`, see .ci/run); nothing
is downloaded. Each test takes screenshots of the pages it checks; with
`UPDATE_ADMIN_SCREENSHOTS=1` they are written to docs/images/admin/ (the ones docs/admin.md shows).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from apps.core.models import AuditAction, AuditEvent
from apps.documents.models import Attachment, Document
from tests.admin.conftest import HARD_DELETE, PASSWORD, RESTORE, VIEW_AND_DELETE, create_document, create_staff
from tests.conftest import REQUIRE_SERVICES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images" / "admin"

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_ADMIN_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        return DOCS_IMAGES
    return tmp_path


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, live_server: Any) -> Iterator[Any]:
    """A fresh Chromium page. Playwright's sync API runs an event loop in this thread, so
    Django's async-safety check is relaxed for these tests only (the ORM calls here are
    plain synchronous test setup and assertions)."""
    if not Path(CHROMIUM).exists():
        # CI installs it (.ci/run) and requires it; a laptop without it still gets a green `make test`.
        if REQUIRE_SERVICES:
            pytest.fail("Debian's chromium is required in this run: apt-get install -y chromium")
        pytest.skip("needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url)
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()
            # Inside Playwright's loop, asgiref gives this code its own database connections
            # (context-local, not thread-local): close them, or PostgreSQL cannot drop the test database.
            connections.close_all()


def _log_in(page: Any, username: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def _run_action(page: Any, action: str, *documents: Document) -> None:
    for document in documents:
        page.check(f'input.action-select[value="{document.pk}"]')
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def _action_options(page: Any) -> list[str]:
    values: list[str] = page.eval_on_selector_all("select[name=action] option", "options => options.map(o => o.value)")
    return values


def test_soft_delete_restore_and_history_in_the_browser(page: Any, screenshots: Path) -> None:
    create_staff("alice", perms=[*VIEW_AND_DELETE, *RESTORE])
    document = create_document("Quarterly report", attachments=2)
    create_document("Roadmap", attachments=1)
    _log_in(page, "alice")

    page.goto("/admin/documents/document/")
    assert page.locator("#result_list tbody tr").count() == 2
    page.screenshot(path=str(screenshots / "changelist.png"), full_page=True)

    _run_action(page, "delete_selected", document)
    summary = page.locator("#content").inner_text()
    assert "Quarterly report-0.pdf" in summary
    assert "Quarterly report-1.pdf" in summary
    page.screenshot(path=str(screenshots / "delete-confirmation.png"), full_page=True)
    page.click("input[type=submit][value^='Yes']")
    page.wait_for_selector(".messagelist .success")
    assert page.locator("#result_list tbody tr").count() == 1  # live rows only by default

    page.click("#changelist-filter >> text=Deleted")
    row = page.locator("#result_list tbody tr", has_text="Quarterly report")
    assert "Deleted by admin:alice on" in row.inner_text()
    page.screenshot(path=str(screenshots / "deleted-filter.png"), full_page=True)
    assert Attachment.deleted_objects.filter(document_id=document.pk).count() == 2

    _run_action(page, "restore_selected", document)
    listing = page.locator(".cascade-objects").all_inner_texts()
    assert any("Document: Quarterly report" in group for group in listing)
    assert sum("Attachment: Quarterly report-" in line for group in listing for line in group.splitlines()) == 2
    page.screenshot(path=str(screenshots / "restore-confirmation.png"), full_page=True)
    page.click("input[type=submit][value='Yes, restore them']")
    assert "Restored 1 document, 2 attachments." in page.locator(".messagelist .success").inner_text()

    assert Attachment.objects.filter(document_id=document.pk).count() == 2
    page.goto(f"/admin/documents/document/{document.pk}/change/")
    assert page.locator("#attachments-group tbody tr.has_original").count() == 2  # the children are back
    page.click(".object-tools >> text=History")
    page.wait_for_selector("#audit-history")
    actions = page.locator("#audit-history .audit-event .audit-action").all_inner_texts()
    assert actions[:2] == ["Restore", "Soft delete"]  # newest first
    actors = page.locator("#audit-history .audit-event .audit-actor").all_inner_texts()
    assert actors[:2] == ["admin:alice", "admin:alice"]
    assert "deleted_by" in page.locator("#audit-history").inner_text()
    page.screenshot(path=str(screenshots / "history.png"), full_page=True)
    assert AuditEvent.objects.for_object(Document, document.pk).filter(action=AuditAction.RESTORE).exists()


def test_staff_without_restore_permission_is_not_offered_restore(page: Any, screenshots: Path) -> None:
    create_staff("bob", perms=VIEW_AND_DELETE)
    document = create_document("Board minutes")
    document.delete()
    _log_in(page, "bob")

    page.goto("/admin/documents/document/?state=deleted")
    assert "Deleted by" in page.locator("#result_list").inner_text()
    options = _action_options(page)
    assert "restore_selected" not in options
    assert "hard_delete_selected" not in options
    page.goto(f"/admin/documents/document/{document.pk}/change/")
    assert page.locator("text=It is read-only until restored").count() == 1
    assert page.locator(".object-tools >> text=Restore…").count() == 0
    page.screenshot(path=str(screenshots / "deleted-read-only.png"), full_page=True)
    response = page.goto(f"/admin/documents/document/{document.pk}/restore/")
    assert response.status == 403
    assert Document.all_objects.get(pk=document.pk).is_deleted


def test_hard_delete_requires_its_permission(page: Any, screenshots: Path) -> None:
    create_staff("carol", perms=[*VIEW_AND_DELETE, *RESTORE])
    create_staff("dave", perms=[*VIEW_AND_DELETE, *HARD_DELETE])
    document = create_document("Old contract", attachments=1)
    document.delete()

    _log_in(page, "carol")
    page.goto("/admin/documents/document/?state=deleted")
    assert "hard_delete_selected" not in _action_options(page)
    assert page.goto(f"/admin/documents/document/{document.pk}/hard-delete/").status == 403
    page.context.clear_cookies()

    _log_in(page, "dave")
    page.goto("/admin/documents/document/?state=deleted")
    assert "hard_delete_selected" in _action_options(page)
    _run_action(page, "hard_delete_selected", document)
    assert "cannot be undone" in page.locator("#content").inner_text()
    assert "Attachment: Old contract-0.pdf" in page.locator(".cascade-objects").all_inner_texts()[-1]
    page.screenshot(path=str(screenshots / "hard-delete-confirmation.png"), full_page=True)
    page.click("input[type=submit][value='Yes, delete them permanently']")
    assert "Permanently deleted 1 document, 1 attachment." in page.locator(".messagelist .success").inner_text()
    assert not Document.all_objects.filter(pk=document.pk).exists()
