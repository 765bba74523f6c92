"""Views that let tests drive the request context through real middleware (tests only)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.context import current_actor, current_request_id, current_tenant
from apps.core.errors import Conflict
from tests.testapp.models import Folder, Label


@dataclass
class HeaderUser:
    """A token-style user: not a Django user, identified by an actor id (like Accent-Auth's auth_id)."""

    actor_id: str
    is_authenticated: bool = True


class HeaderAuthentication(BaseAuthentication):
    """Authenticates inside the view, as DRF token authentication does (after all middleware ran)."""

    def authenticate(self, request: Request) -> tuple[HeaderUser, None] | None:
        actor = request.headers.get("X-Test-Actor")
        return (HeaderUser(actor), None) if actor else None


class CreateFolderView(APIView):
    authentication_classes = [HeaderAuthentication]
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        folder = Folder.objects.create(name=request.data["name"], tenant_id=request.data["tenant_id"])
        return Response({"created_by": folder.created_by, "actor": current_actor()}, status=201)


async def whoami(request: HttpRequest) -> JsonResponse:
    """Reads the context, yields to other requests, reads it again."""
    await request.auser()
    first = current_actor()
    await asyncio.sleep(0.05)
    return JsonResponse({"first": first, "second": current_actor(), "request_id": current_request_id()})


def context_echo(request: HttpRequest) -> JsonResponse:
    tenant: Any = current_tenant()
    return JsonResponse({"actor": current_actor(), "request_id": current_request_id(), "tenant": tenant})


class CreateThenConflictView(APIView):
    """Writes a row, then fails with a service error: under ATOMIC_REQUESTS the row must not survive."""

    authentication_classes = [HeaderAuthentication]
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        Folder.objects.create(name=request.data["name"], tenant_id=request.data["tenant_id"])
        raise Conflict("Created, then found a conflict.")


def replica_label(request: HttpRequest) -> JsonResponse:
    """POST writes the label `?name=` then reads it back; GET only reads it. Says what it saw, and where."""
    name = request.GET["name"]
    if request.method == "POST":
        Label.objects.create(name=name)
    found = Label.objects.filter(name=name)
    return JsonResponse({"seen": found.exists(), "read_from": found.db})
