"""The ACLs of a Django (session) user, so one permission class serves tokens and the admin's users.

The rule, documented in docs/accent-auth.md:

- an inactive or anonymous user holds nothing;
- a superuser holds `#` (everything);
- a staff user holds one pattern per group named `acl:<pattern>`, e.g. a group
  `acl:documents.#` grants every documents ACL, `acl:!documents.*.delete` refuses
  deletes (negative patterns work as in tokens);
- any other user holds nothing (a valid session alone only passes `required_acl = None`).
"""

from __future__ import annotations

from typing import Protocol

from apps.accent_auth.acl import AccessCheck

__all__ = ["GROUP_PREFIX", "access_check_for_user", "acl_for_user"]

GROUP_PREFIX = "acl:"


class _DjangoUser(Protocol):
    is_active: bool
    is_staff: bool
    is_superuser: bool
    pk: int | str

    @property
    def is_authenticated(self) -> bool: ...

    def get_username(self) -> str: ...


def acl_for_user(user: _DjangoUser) -> list[str]:
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return ["#"]
    if not user.is_staff:
        return []
    from django.contrib.auth.models import Group  # noqa: PLC0415 - keeps this module importable before apps load

    names = Group.objects.filter(user__pk=user.pk, name__startswith=GROUP_PREFIX).values_list("name", flat=True)
    return sorted(name.removeprefix(GROUP_PREFIX) for name in names)


def access_check_for_user(user: _DjangoUser) -> AccessCheck:
    return AccessCheck(f"admin:{user.get_username()}", None, acl_for_user(user))
