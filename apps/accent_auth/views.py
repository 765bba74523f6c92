"""`DELETE /api/v1/auth/token`: revoke the caller's own token (at Accent-Auth and in our cache)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accent_auth.authentication import AccentAuthTokenAuthentication, AccentAuthUser
from apps.accent_auth.permissions import HasRequiredAcl
from apps.accent_auth.services import token_revoke
from apps.core.errors import InvalidInput

__all__ = ["TokenRevokeView"]


class TokenRevokeView(APIView):
    authentication_classes = [AccentAuthTokenAuthentication]
    permission_classes = [HasRequiredAcl]
    required_acl = None  # any valid token may end itself

    @extend_schema(responses={204: None}, summary="Revoke the token this request carries")
    def delete(self, request: Request) -> Response:
        user = request.user
        if not isinstance(user, AccentAuthUser):  # pragma: no cover - the authentication class guarantees it
            raise InvalidInput("Only a token can be revoked.")
        token_revoke(token=user.token_info.token)
        return Response(status=204)
