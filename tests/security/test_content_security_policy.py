"""The admin and the API docs work under the CSP: everything they load is same-origin, nothing is inline.

A browser under `script-src 'self'; style-src 'self'` runs no inline `<script>`, applies no
`<style>` block or `style=` attribute, and fires no `on...=` handler. So the pages must
have none, and every script and stylesheet they reference must come from this origin.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


class _Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            if attributes.get("src"):
                self.scripts.append(str(attributes["src"]))
            elif attributes.get("type") not in {"application/json"}:  # data blocks are not executed
                self._in_inline_script = True
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(str(attributes["href"]))
        if tag == "style":
            self.inline.append("<style> block")
        self.inline += [f"{tag} {name}=" for name in attributes if name == "style" or name.startswith("on")]

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.inline.append(f"inline script: {data.strip()[:60]}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False


def _assert_runs_under_the_policy(client: Client, path: str) -> _Resources:
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    page = _Resources()
    page.feed(response.content.decode())
    assert page.inline == [], f"{path} has inline code the CSP blocks"
    for url, content_type in [*((s, "javascript") for s in page.scripts), *((s, "css") for s in page.stylesheets)]:
        parts = urlsplit(url)
        assert not parts.netloc, f"{url} is not same-origin"
        loaded = client.get(url)
        assert loaded.status_code == 200, url
        assert content_type in loaded["Content-Type"], url
    return page


def test_the_swagger_ui_loads_only_same_origin_scripts_and_styles(client: Client) -> None:
    page = _assert_runs_under_the_policy(client, "/api/docs/")
    assert any("swagger-ui-bundle.js" in src for src in page.scripts)
    assert any(src.startswith("/api/docs/?") and "script" in src for src in page.scripts)
    init = client.get(next(src for src in page.scripts if "script" in src and src.startswith("/api/docs/")))
    assert "/api/schema/" in init.content.decode(), "the start-up script points Swagger UI at our schema"


def test_the_admin_login_and_a_change_list_load_only_same_origin_code(client: Client) -> None:
    _assert_runs_under_the_policy(client, "/admin/login/")
    client.force_login(User.objects.create_superuser("csp-admin", password="x"))
    _assert_runs_under_the_policy(client, "/admin/")
    _assert_runs_under_the_policy(client, "/admin/auth/user/")
    _assert_runs_under_the_policy(client, "/admin/auth/user/add/")
