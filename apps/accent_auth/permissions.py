"""`HasRequiredAcl`: a view declares the ACL it needs; the caller's ACL patterns must grant it.

    class DocumentDetail(APIView):
        permission_classes = [HasRequiredAcl]
        required_acl = {"GET": "documents.{pk}.read", "PATCH": "documents.{pk}.update"}

`required_acl` is a template (one for every method), a dict by viewset action or
HTTP method (HEAD falls back to GET), or `None` ("a valid caller is enough").
`{name}` is filled from the URL kwargs with dots turned into `_`. The check is local:
a token's patterns came with its validation, a session user's from `session_acl`.
A method the dict does not name is refused (fail closed), except:

- a method the view does not implement is a 405 (before authentication: the resource
  has no such operation for anyone);
- OPTIONS, unless declared, needs only a valid caller: DRF answers it with the view's
  name, description and media types, no more than the public schema shows. The
  browsable API asks it on every page.

A refusal is DRF's `PermissionDenied` (`AclDenied`, which names the missing ACL), because
DRF's own callers of `check_permissions` (the browsable API's forms, OPTIONS metadata)
catch DRF's exceptions to hide what a caller may not do, and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.exceptions import PermissionDenied as DrfPermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.accent_auth.acl import AccessCheck, fill_required_acl
from apps.accent_auth.authentication import AccentAuthUser
from apps.accent_auth.session_acl import access_check_for_user

__all__ = ["AclDenied", "HasRequiredAcl", "access_check_for", "demand_acl", "required_acl_for"]

_UNDECLARED = object()


class AclDenied(DrfPermissionDenied):
    """403: the caller lacks the ACL (`errors.required_acl` names it), or the method declares none."""

    def __init__(self, detail: str, *, required_acl: str | None = None) -> None:
        super().__init__(detail)
        self.errors = {"required_acl": [required_acl]} if required_acl else None


def required_acl_for(request: Request, view: APIView) -> str | None:
    """The concrete ACL this request needs. Raises `AclDenied` for an undeclared method."""
    declared: Any = getattr(view, "required_acl", _UNDECLARED)
    if declared is _UNDECLARED:
        raise ImproperlyConfigured(f"{type(view).__name__} uses HasRequiredAcl but declares no required_acl")
    if isinstance(declared, Mapping):
        method = request.method or "GET"
        candidates = [getattr(view, "action", None), method, "GET" if method == "HEAD" else None]
        template = next((declared[c] for c in candidates if c is not None and c in declared), _UNDECLARED)
        if template is _UNDECLARED and method == "OPTIONS":
            return None
        if template is _UNDECLARED:
            raise AclDenied(f"No ACL is declared for {method} on this resource.")
    else:
        template = declared
    if template is None:
        return None
    try:
        return fill_required_acl(str(template), getattr(view, "kwargs", {}) or {})
    except KeyError as missing:
        raise ImproperlyConfigured(f"required_acl {template!r} names {missing} which the URL does not give") from None


def access_check_for(request: Request) -> AccessCheck:
    user = request.user
    if isinstance(user, AccentAuthUser):
        return user.access_check
    cached = getattr(request, "_accent_access_check", None)
    if cached is None:
        cached = access_check_for_user(user)  # type: ignore[arg-type]  # a Django user (session)
        request._accent_access_check = cached  # type: ignore[attr-defined]  # one group query per request
    return cached


def demand_acl(request: Request, required: str | None) -> None:
    """Raise `AclDenied` unless the (authenticated) caller of `request` holds `required`."""
    if not access_check_for(request).matches_required_access(required):
        raise AclDenied(
            f"This action requires the ACL '{required}', which the caller does not hold.", required_acl=str(required)
        )


class HasRequiredAcl(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method not in view.allowed_methods:
            raise MethodNotAllowed(str(request.method))
        user = request.user
        if user is None or not user.is_authenticated:
            return False  # DRF answers 401 (the token class provides the challenge)
        demand_acl(request, required_acl_for(request, view))
        return True
