"""Per-actor and per-scope limits on the API, with tokens from the Accent-Auth stand-in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

pytestmark = pytest.mark.django_db
URL = "/api/v1/documents/"


def test_the_actor_limit_follows_the_actor_across_addresses(
    client: Client, accent_auth: Any, limits: SettingsWrapper
) -> None:
    limits.RATE_LIMIT_PER_ACTOR = "2/minute"
    alice, bob = accent_auth.login("alice"), accent_auth.login("bob")
    statuses = [client.get(URL, HTTP_X_AUTH_TOKEN=alice, REMOTE_ADDR=f"192.0.2.{n}").status_code for n in range(1, 4)]
    assert statuses == [200, 200, 429]
    refused = client.get(URL, HTTP_X_AUTH_TOKEN=alice)
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 59
    assert refused["RateLimit-Remaining"] == "0"
    assert refused["RateLimit-Limit"] == "2", "the tightest limit is reported"
    assert client.get(URL, HTTP_X_AUTH_TOKEN=bob).status_code == 200, "another actor has its own allowance"


def test_a_scope_limits_one_view_per_actor(client: Client, accent_auth: Any, limits: SettingsWrapper) -> None:
    limits.RATE_LIMIT_SCOPES = {"documents:collection": "1/minute"}
    alice, bob = accent_auth.login("alice"), accent_auth.login("bob")
    assert client.get(URL, HTTP_X_AUTH_TOKEN=alice).status_code == 200
    second = client.get(URL, HTTP_X_AUTH_TOKEN=alice)
    assert second.status_code == 429
    assert second["RateLimit-Policy"] == "600;w=60, 1200;w=60, 1;w=60", "IP, actor, scope"
    assert client.get(f"{URL}{uuid.uuid4()}/", HTTP_X_AUTH_TOKEN=alice).status_code == 404, "other views: no scope"
    assert client.get(URL, HTTP_X_AUTH_TOKEN=bob).status_code == 200, "per actor"


def test_a_views_throttle_scope_names_its_scope(client: Client, limits: SettingsWrapper) -> None:
    limits.ROOT_URLCONF = "tests.security.urls"
    limits.RATE_LIMIT_SCOPES = {"echo-scope": "1/minute"}
    assert client.get("/test/scoped/").status_code == 200
    assert client.get("/test/scoped/").status_code == 429, "anonymous callers are limited per IP in a scope"
