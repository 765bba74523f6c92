"""The actor/tenant/request-id context: scoped, reset in finally, lazy, and isolated under ASGI."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import AsyncClient, Client

from apps.core.context import (
    RequestScope,
    acting_as,
    actor_for_user,
    current_actor,
    current_request_id,
    current_tenant,
    in_tenant,
    request_scope,
    set_request_tenant,
)
from tests.factories import TENANT_A


def test_acting_as_and_in_tenant_nest_and_reset_even_on_error() -> None:
    assert current_actor() is None
    with acting_as("admin:outer"), in_tenant(str(TENANT_A)):
        assert (current_actor(), current_tenant()) == ("admin:outer", TENANT_A)
        seen: list[object] = []

        def fail_inside() -> None:
            with acting_as("admin:inner"), in_tenant(None):
                seen.append((current_actor(), current_tenant()))
                raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            fail_inside()
        assert seen == [("admin:inner", None)]
        assert (current_actor(), current_tenant()) == ("admin:outer", TENANT_A)
    assert (current_actor(), current_tenant()) == (None, None)


def test_explicit_scopes_win_over_the_request_scope() -> None:
    scope = RequestScope(request_id="r-1", resolve_actor=lambda: "from-request", tenant_id=TENANT_A)
    with request_scope(scope):
        assert (current_actor(), current_tenant(), current_request_id()) == ("from-request", TENANT_A, "r-1")
        with acting_as("celery:cleanup"), in_tenant(None):
            assert (current_actor(), current_tenant()) == ("celery:cleanup", None)
        set_request_tenant(None)
        assert current_tenant() is None
    assert current_request_id() is None


def test_set_request_tenant_outside_a_request_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="outside a request scope"):
        set_request_tenant(TENANT_A)


def test_actor_strings_for_users() -> None:
    assert actor_for_user(None) is None
    assert actor_for_user(User(username="alice")) == "admin:alice"

    class Anonymous:
        is_authenticated = False

    assert actor_for_user(Anonymous()) is None


@pytest.mark.urls("tests.testapp.urls")
def test_request_id_is_taken_from_the_caller_or_generated_and_echoed(client: Client) -> None:
    given = client.get("/context/", HTTP_X_REQUEST_ID="abc-123")
    assert given["X-Request-ID"] == "abc-123"
    assert given.json()["request_id"] == "abc-123"
    generated = client.get("/context/")
    assert uuid.UUID(generated["X-Request-ID"]).hex == generated.json()["request_id"]
    hostile = client.get("/context/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert hostile["X-Request-ID"] != "bad id\nwith newline"
    assert len(hostile["X-Request-ID"]) == 32


@pytest.mark.django_db
@pytest.mark.urls("tests.testapp.urls")
def test_actor_set_by_drf_authentication_inside_the_view_stamps_the_row(client: Client) -> None:
    response = client.post(
        "/folders/",
        {"name": "from-token", "tenant_id": str(TENANT_A)},
        content_type="application/json",
        HTTP_X_TEST_ACTOR="0b7e5c1a-accent-user",
    )
    assert response.status_code == 201, response.content
    assert response.json() == {"created_by": "0b7e5c1a-accent-user", "actor": "0b7e5c1a-accent-user"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.testapp.urls")
def test_concurrent_asgi_requests_never_see_each_others_actor() -> None:
    users = [User.objects.create_user(username=f"user{i}") for i in range(6)]

    async def one_request(user: User) -> dict[str, str]:
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get("/whoami/", headers={"X-Request-ID": f"req-{user.username}"})
        return {**response.json(), "expected": f"admin:{user.username}", "rid": f"req-{user.username}"}

    async def all_at_once() -> list[dict[str, str]]:
        return await asyncio.gather(*(one_request(user) for user in users))

    for result in async_to_sync(all_at_once)():
        assert result["first"] == result["second"] == result["expected"]
        assert result["request_id"] == result["rid"]
