"""docs/health.md's snippet runs, and its example bodies have the shape the probes answer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.http import HttpRequest, HttpResponse

from tests.health.conftest import StatusServer

DOC = (Path(__file__).resolve().parents[2] / "docs" / "health.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def test_the_view_outside_request_transactions_is_never_wrapped_in_one() -> None:
    snippet = next(block for block in _blocks("python") if "outside_request_transactions" in block)
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    view = namespace["version"]

    def plain(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    for alias in connections:  # as a team that turns ATOMIC_REQUESTS on runs (cf. tests/core/test_problems.py)
        connections[alias].settings_dict["ATOMIC_REQUESTS"] = True
    try:
        assert BaseHandler().make_view_atomic(view) is view, "Django wraps it in no transaction"
        assert BaseHandler().make_view_atomic(plain) is not plain, "while it wraps any other view"
    finally:
        for alias in connections:
            connections[alias].settings_dict["ATOMIC_REQUESTS"] = False


def test_the_python_snippet_runs(status_server: StatusServer, capsys: pytest.CaptureFixture[str]) -> None:
    (snippet,) = [block for block in _blocks("python") if "evaluate(" in block]
    exec(snippet, {"ACCENT_AUTH_URL": status_server.base_url})
    assert capsys.readouterr().out == "ok ok\n"
    status_server.mode = "unavailable"
    exec(snippet, {"ACCENT_AUTH_URL": status_server.base_url})
    assert capsys.readouterr().out == "degraded failing\n"


def test_the_example_bodies_match_what_the_probes_answer() -> None:
    ready, detail = (json.loads(block) for block in _blocks("json"))
    assert set(ready) == {"status", "checks"}
    for check in detail["checks"].values():
        assert set(check) == {"status", "required", "latency_ms", "error", "cached", "checked_at"}
    # The field list must match the code's own rendering.
    from apps.health.runner import CheckResult

    assert set(CheckResult("x", "ok", True, 1.0).as_dict()) == set(next(iter(detail["checks"].values())))
