"""Fuzz the API from its own OpenAPI schema over real HTTP: no 5xx, every answer as documented.

schemathesis generates requests for every operation of `/api/schema/` (valid and invalid
bodies, parameters, path ids) and sends them to a gunicorn serving a migrated database,
authenticated through the Accent-Auth stand-in as `root` acting in the acme sub-tenant.
The number of examples is bounded (FUZZ_EXAMPLES per operation) so this stays well under
a minute; raise it by hand (`FUZZ_EXAMPLES=500 pytest tests/security/test_fuzzing.py`) to dig deeper.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.processes import manage, server_database
from tests.security.conftest import gunicorn

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
ACME = "00000000-0000-4000-8000-00000000000a"
REQUEST_LINE_LIMIT = 4094 - 64  # gunicorn's limit_request_line, less the method, version and percent-encoding slack


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory, accent_auth_standin: Any) -> Iterator[dict[str, Any]]:
    accent_auth_standin.reset()
    token = httpx.post(f"{accent_auth_standin.url}/token", auth=("root", "root"), json={"expiration": 3600}).json()[
        "data"
    ]["token"]
    with server_database(tmp_path_factory.mktemp("fuzz"), "fuzz") as database_url:
        variables = {
            "DATABASE_URL": database_url,
            "ACCENT_AUTH_URL": accent_auth_standin.url,
            "RATE_LIMIT_ENABLED": "false",
        }
        if os.environ.get("REDIS_URL"):
            variables["REDIS_URL"] = os.environ["REDIS_URL"]
        migrated = manage("migrate", "--noinput", env={**os.environ, **variables}, timeout=180)
        assert migrated.returncode == 0, migrated.stderr
        with gunicorn(workers=2, threads=4, settings_module="project.settings", **variables) as base_url:
            headers = {"X-Auth-Token": token, "Accent-Tenant": ACME}
            # A few documents, so detail, update and restore operations meet real rows too.
            for n in range(3):
                created = httpx.post(f"{base_url}/api/v1/documents/", json={"title": f"seed {n}"}, headers=headers)
                assert created.status_code == 201, created.text
            yield {"base_url": base_url, "headers": headers}


def _operations(base_url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/?format=json")
    return [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]  # an Err fails here


# schemathesis' pytest integration (`@schema.parametrize()`) does not run under pytest 9, so each
# operation becomes a Hypothesis test here: valid inputs, then invalid ones (negative mode).
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_api_never_answers_5xx_and_keeps_to_its_schema(fuzz_target: dict[str, Any], mode: GenerationMode) -> None:
    operations = _operations(fuzz_target["base_url"])
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "GET /api/v1/documents/",
        "POST /api/v1/documents/",
        "PATCH /api/v1/documents/{id}/",
        "POST /api/v1/documents/bulk-upsert/",
    }
    # Every answer is one the schema documents: its status, media type, body and headers.
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def fuzz(case: Any) -> None:
            # gunicorn answers a request line over its limit with its own HTML 414, before the app
            # (docs/api.md): the schema describes the app, so such requests are not the app's to pass.
            assume(len(urlencode(case.query or {}, doseq=True)) + len(case.formatted_path) < REQUEST_LINE_LIMIT)
            case.call_and_validate(
                base_url=fuzz_target["base_url"], headers=fuzz_target["headers"], checks=checks, timeout=15
            )

        try:
            fuzz()
        except Unsatisfiable:
            continue  # no invalid input exists for this operation (e.g. only a free-form path id)
        except Exception as error:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, "\n\n".join(failures)
