"""The problem+json exception handler: an error answer never commits what the request wrote."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connections
from django.test import Client

from tests.factories import TENANT_A
from tests.testapp.models import Folder


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.testapp.urls")
def test_an_error_answer_rolls_back_the_request_transaction_under_atomic_requests(client: Client) -> None:
    connections["default"].settings_dict["ATOMIC_REQUESTS"] = True
    try:
        response = client.post(
            "/folders-conflict/",
            {"name": "half-written", "tenant_id": str(TENANT_A)},
            content_type="application/json",
            HTTP_X_TEST_ACTOR="user-1",
        )
    finally:
        connections["default"].settings_dict["ATOMIC_REQUESTS"] = False
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert not Folder.all_objects.filter(name="half-written").exists()


@pytest.mark.parametrize("ssl_redirect", [False, True], ids=["plain", "ssl-redirect"])
def test_a_host_outside_allowed_hosts_is_a_problem_on_api_paths_only(
    client: Client, settings: Any, ssl_redirect: bool
) -> None:
    # With SECURE_SSL_REDIRECT, SecurityMiddleware reads the host first: Django's handler400 answers then.
    settings.SECURE_SSL_REDIRECT = ssl_redirect
    response = client.get("/api/v1/documents/?limit=1", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "disallowed_host"
    admin = client.get("/admin/login/", HTTP_HOST="evil.example")
    assert admin.status_code == 400
    assert admin["Content-Type"].startswith("text/html")


def test_nul_in_any_api_query_parameter_is_a_400_naming_it(client: Client) -> None:
    response = client.get("/api/schema/", {"format": "json", "x\x00": "1"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == {"x\x00"}
