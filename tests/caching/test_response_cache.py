"""`@cache_response` / `CachedResponseMixin` through real requests, on the local-memory store and on Redis.

Callers are real Accent-Auth tokens from the stand-in server (alice: acme, `documents.#`; bob: globex,
read-only; root: every tenant, `#`), so the permission checks are the ones a service runs.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.caching import invalidate_tags
from apps.caching.store import get_store, reset_store
from tests.caching.conftest import redis_cache_settings, remove_namespace
from tests.caching.response_cache_urls import CALLS

pytestmark = pytest.mark.urls("tests.caching.response_cache_urls")

ACME = "00000000-0000-4000-8000-00000000000a"
GLOBEX = "00000000-0000-4000-8000-00000000000b"


@pytest.fixture(params=["local-memory", "redis"])
def backend(request: pytest.FixtureRequest, settings: SettingsWrapper) -> Iterator[str]:
    """Each test runs on both stores, under a private namespace removed afterwards."""
    prefix = f"test-view-{uuid.uuid4().hex[:12]}"
    caches = copy.deepcopy(settings.CACHES)
    if request.param == "redis":
        caches["default"] = redis_cache_settings(request.getfixturevalue("redis_url"), prefix)["default"]
    else:
        caches["default"] = {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": prefix,
            "KEY_PREFIX": prefix,
        }
    settings.CACHES = caches
    CALLS.clear()
    try:
        assert get_store().backend_name == request.param
        yield str(request.param)
    finally:
        if request.param == "redis":
            remove_namespace(prefix)
        reset_store()


class Caller:
    def __init__(self, client: Client, token: str, tenant: str | None = None) -> None:
        self.client = client
        self.headers: dict[str, Any] = {"HTTP_X_AUTH_TOKEN": token}
        if tenant is not None:
            self.headers["HTTP_ACCENT_TENANT"] = tenant

    def get(self, path: str, **extra: Any) -> Any:
        return self.client.get(path, **self.headers, **extra)


@pytest.fixture
def alice(client: Client, accent_auth: Any, backend: str) -> Caller:
    return Caller(client, accent_auth.login("alice"))


@pytest.fixture
def bob(client: Client, accent_auth: Any, backend: str) -> Caller:
    return Caller(client, accent_auth.login("bob"))


@pytest.fixture
def root(accent_auth: Any, backend: str) -> Any:
    token = accent_auth.login("root")
    return lambda tenant: Caller(Client(), token, tenant)


def test_miss_then_hit_serves_the_same_body_and_headers_without_running_the_view(alice: Caller) -> None:
    first = alice.get("/reports/1/")
    second = alice.get("/reports/1/")
    assert first.status_code == second.status_code == 200
    assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")
    assert second.json() == first.json()
    assert first.json()["run"] == 1
    assert second["X-Report-Version"] == "3"  # a header the view set is replayed
    assert second["Content-Type"] == first["Content-Type"] == "application/json"
    assert CALLS["report"] == 1
    assert alice.get("/reports/2/")["X-Cache"] == "miss"
    assert CALLS["report"] == 2


def test_the_query_string_is_in_the_key_sorted_by_name(alice: Caller) -> None:
    assert alice.get("/reports/1/?b=2&a=1")["X-Cache"] == "miss"
    hit = alice.get("/reports/1/?a=1&b=2")
    assert hit["X-Cache"] == "hit"
    assert hit.json()["query"] == {"a": ["1"], "b": ["2"]}
    assert alice.get("/reports/1/?a=1&b=3")["X-Cache"] == "miss"
    assert alice.get("/reports/1/")["X-Cache"] == "miss"
    # The values of one name keep their order: ?x=1&x=2 is not ?x=2&x=1.
    assert alice.get("/reports/1/?x=1&x=2")["X-Cache"] == "miss"
    assert alice.get("/reports/1/?x=2&x=1")["X-Cache"] == "miss"
    assert CALLS["report"] == 5


def test_invalidating_a_tag_drops_the_cached_response(alice: Caller) -> None:
    alice.get("/reports/1/"), alice.get("/reports/2/")
    assert invalidate_tags(["test-report:1"]) == 1
    again = alice.get("/reports/1/")
    assert again["X-Cache"] == "miss"
    assert again.json()["run"] == 3
    assert alice.get("/reports/2/")["X-Cache"] == "hit"
    assert invalidate_tags(["test-reports:all"]) == 2
    assert alice.get("/reports/2/")["X-Cache"] == "miss"


def test_an_invalidation_while_the_view_computes_refuses_the_store(alice: Caller) -> None:
    # The view invalidates its own tag mid-computation on its first run (see response_cache_urls).
    first = alice.get("/reports/7/")
    assert (first.status_code, first["X-Cache"]) == (200, "miss")
    assert alice.get("/reports/7/")["X-Cache"] == "miss"  # the stale body was not stored
    assert alice.get("/reports/7/")["X-Cache"] == "hit"
    assert CALLS["report"] == 2


def test_callers_do_not_share_entries_by_default(alice: Caller, root: Any) -> None:
    mine = alice.get("/reports/1/")
    theirs = root(ACME).get("/reports/1/")  # same path, same tenant, another caller
    assert (mine["X-Cache"], theirs["X-Cache"]) == ("miss", "miss")
    assert mine.json()["actor"] != theirs.json()["actor"]
    assert root(ACME).get("/reports/1/").json()["actor"] == theirs.json()["actor"]
    assert alice.get("/reports/1/").json()["actor"] == mine.json()["actor"]


def test_tenants_never_share_an_entry_even_with_a_shared_scope(root: Any) -> None:
    in_acme = root(ACME).get("/shared-reports/1/")
    in_globex = root(GLOBEX).get("/shared-reports/1/")
    assert (in_acme["X-Cache"], in_globex["X-Cache"]) == ("miss", "miss")
    assert (in_acme.json()["tenant"], in_globex.json()["tenant"]) == (ACME, GLOBEX)
    again = root(GLOBEX).get("/shared-reports/1/")
    assert (again["X-Cache"], again.json()["tenant"]) == ("hit", GLOBEX)
    assert CALLS["shared"] == 2


def test_a_caller_without_permission_gets_403_even_when_the_response_is_cached(root: Any, bob: Caller) -> None:
    # root fills globex's shared entry; bob (globex, read-only ACL) would get it if the cache came first.
    assert root(GLOBEX).get("/shared-reports/1/")["X-Cache"] == "miss"
    assert root(GLOBEX).get("/shared-reports/1/")["X-Cache"] == "hit"
    refused = bob.get("/shared-reports/1/")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert "X-Cache" not in refused
    assert "documents.1.update" in refused.json()["detail"]
    anonymous = Client().get("/shared-reports/1/")
    assert anonymous.status_code == 401
    assert "X-Cache" not in anonymous
    assert CALLS["shared"] == 1


def test_errors_and_other_statuses_are_never_cached(alice: Caller) -> None:
    for _ in range(2):
        missing = alice.get("/reports/404/")
        assert missing.status_code == 404
        assert missing["Content-Type"] == "application/problem+json"
        assert "X-Cache" not in missing
    for _ in range(2):
        pending = alice.get("/reports/202/")
        assert pending.status_code == 202
        assert "X-Cache" not in pending
    assert CALLS["report"] == 4  # every request ran the view


def test_head_is_served_from_the_same_entry(alice: Caller) -> None:
    assert alice.get("/reports/1/")["X-Cache"] == "miss"
    head = alice.client.head("/reports/1/", **alice.headers)
    assert (head.status_code, head["X-Cache"], head.content) == (200, "hit", b"")


def test_the_mixin_caches_the_inherited_get(alice: Caller) -> None:
    first, second = alice.get("/mixin-reports/1/"), alice.get("/mixin-reports/1/")
    assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")
    assert second.json() == first.json()
    assert invalidate_tags(["test-report:1"]) == 1
    assert alice.get("/mixin-reports/1/")["X-Cache"] == "miss"
    assert CALLS["mixin"] == 2


def test_the_mixin_refuses_a_view_without_a_key_prefix() -> None:
    from rest_framework.views import APIView

    from apps.caching import CachedResponseMixin

    class Unconfigured(CachedResponseMixin, APIView):
        pass

    with pytest.raises(TypeError, match="sets no cache_key_prefix"):
        Unconfigured().get(None)  # type: ignore[arg-type]


def test_the_documented_view_caches_and_is_invalidated_by_the_document_tag(alice: Caller, bob: Caller) -> None:
    first = alice.get("/documents/5/summary/")
    assert (first.status_code, first["X-Cache"]) == (200, "miss")
    assert first.json() == {"id": 5, "title": "document 5", "run": 1}
    assert alice.get("/documents/5/summary/")["X-Cache"] == "hit"
    assert bob.get("/documents/5/summary/")["X-Cache"] == "miss"  # bob may read it, in his own entry
    invalidate_tags(["document:5"])
    assert alice.get("/documents/5/summary/").json()["run"] == 3
