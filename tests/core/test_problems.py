"""The problem+json exception handler: an error answer never commits what the request wrote."""

from __future__ import annotations

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
