"""OpenAPI description of Accent-Auth token authentication (drf-spectacular), so /api/docs/ can send a token."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

__all__ = ["AccentAuthTokenScheme"]


class AccentAuthTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # untyped hook
    target_class = "apps.accent_auth.authentication.AccentAuthTokenAuthentication"
    name = "AccentAuthToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Auth-Token",
            "description": "An Accent-Auth token (`Authorization: Bearer <token>` is accepted too).",
        }
