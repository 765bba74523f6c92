"""OpenAPI description of Accent-Auth (drf-spectacular): the token scheme, so /api/docs/ can send a token,
and the `Accent-Tenant` header on every operation the token authenticates."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from apps.accent_auth.authentication import TENANT_HEADER

__all__ = ["AccentAuthTokenScheme", "tenant_header_parameter"]

SCHEME_NAME = "AccentAuthToken"


class AccentAuthTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # untyped hook
    target_class = "apps.accent_auth.authentication.AccentAuthTokenAuthentication"
    name = SCHEME_NAME

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Auth-Token",
            "description": "An Accent-Auth token (`Authorization: Bearer <token>` is accepted too).",
        }


def tenant_header_parameter(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: `Accent-Tenant` on each operation with the token scheme.

    A hook and not a view decorator, because the header belongs to the authentication,
    which every token-authenticated view shares whatever it declares.
    """
    parameter = {
        "in": "header",
        "name": TENANT_HEADER,
        "required": False,
        "schema": {"type": "string", "format": "uuid"},
        "description": "Act in this tenant: the token's own or one of its sub-tenants (default: the token's).",
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and any(
                SCHEME_NAME in requirement for requirement in operation.get("security", [])
            ):
                operation.setdefault("parameters", []).append(parameter)
    return result
