"""Per-actor and per-scope limits on the API (REST and GraphQL), with tokens from the Accent-Auth stand-in."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.documents.models import Document

pytestmark = pytest.mark.django_db
URL = "/api/v1/documents/"
GRAPHQL = "/graphql/"
LIST = "{ documents(first: 5) { edges { node { id } } } }"
CREATE = 'mutation { createDocument(input: {title: "Over the limit"}) { id } }'


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


def graphql(client: Client, token: str, query: str) -> Any:
    body = json.dumps({"query": query})
    return client.post(GRAPHQL, body, content_type="application/json", HTTP_X_AUTH_TOKEN=token)


def test_graphql_spends_the_same_actor_budget_as_rest_and_a_refused_mutation_writes_nothing(
    client: Client, accent_auth: Any, limits: SettingsWrapper
) -> None:
    limits.RATE_LIMIT_PER_ACTOR = "3/minute"
    alice, bob = accent_auth.login("alice"), accent_auth.login("bob")
    assert client.get(URL, HTTP_X_AUTH_TOKEN=alice).status_code == 200
    assert "errors" not in graphql(client, alice, LIST).json()
    assert client.get(URL, HTTP_X_AUTH_TOKEN=alice).status_code == 200
    refused = graphql(client, alice, CREATE)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json", "a GraphQL client reads the body as GraphQL"
    assert int(refused["Retry-After"]) >= 59
    assert (refused["RateLimit-Limit"], refused["RateLimit-Remaining"]) == ("3", "0")
    body = refused.json()
    assert "data" not in body, "a request error: nothing was executed"
    [error] = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["status"]) == ("rate_limited", 429)
    assert error["message"].startswith("Request was throttled.")
    assert not Document.all_objects.filter(title="Over the limit").exists(), "the mutation did not run"
    assert client.get(URL, HTTP_X_AUTH_TOKEN=alice).status_code == 429, "REST sees the GraphQL hits"
    assert graphql(client, bob, CREATE).status_code == 200, "another actor has its own allowance"


def test_the_graphql_scope_limits_graphql_alone(client: Client, accent_auth: Any, limits: SettingsWrapper) -> None:
    limits.RATE_LIMIT_SCOPES = {"graphql": "1/minute"}
    alice, bob = accent_auth.login("alice"), accent_auth.login("bob")
    assert graphql(client, alice, LIST).status_code == 200
    second = graphql(client, alice, LIST)
    assert second.status_code == 429
    assert second["RateLimit-Policy"] == "600;w=60, 1200;w=60, 1;w=60", "IP, actor, scope"
    assert second.json()["errors"][0]["extensions"]["code"] == "rate_limited"
    assert client.get(URL, HTTP_X_AUTH_TOKEN=alice).status_code == 200, "REST is outside the scope"
    assert graphql(client, bob, LIST).status_code == 200, "per actor"


def test_a_caller_refused_at_authentication_gets_its_refusal_not_a_throttle(
    client: Client, accent_auth: Any, limits: SettingsWrapper
) -> None:
    limits.RATE_LIMIT_SCOPES = {"graphql": "1/minute"}
    for _ in range(3):
        answer = graphql(client, str(uuid.uuid4()), LIST)
        assert answer.status_code == 200
        [error] = answer.json()["errors"]
        assert error["extensions"]["code"] == "not_authenticated"
        assert error["message"] == "The token is unknown, revoked or expired.", "the authenticator's own refusal, kept"
