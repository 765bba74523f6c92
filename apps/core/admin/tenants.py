"""Which tenants a staff user may see in the admin, and querysets scoped to them.

The rule (documented in docs/admin.md), parallel to `acl:<pattern>` groups in
`apps.accent_auth.session_acl`:

- a superuser sees every tenant;
- a staff user sees the tenants of the groups they belong to named `tenant:<uuid>`,
  and every tenant if they belong to the group `tenant:*`;
- anyone else, or a staff user in no such group, sees no tenant-owned row at all
  (fail closed). A group name whose suffix is not a UUID grants nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models

__all__ = ["ALL_TENANTS_GROUP", "TENANT_GROUP_PREFIX", "StaffTenants", "scope_to_staff_tenants", "staff_tenants"]

TENANT_GROUP_PREFIX = "tenant:"
ALL_TENANTS_GROUP = "tenant:*"
_CACHE_ATTRIBUTE = "_admin_staff_tenants"

_M = TypeVar("_M", bound=models.Model)


@dataclass(frozen=True)
class StaffTenants:
    """Every tenant (`all_tenants`), or exactly `ids` (possibly none)."""

    all_tenants: bool
    ids: frozenset[uuid.UUID] = frozenset()

    def allows(self, tenant_id: uuid.UUID | str | None) -> bool:
        if self.all_tenants:
            return True
        return tenant_id is not None and uuid.UUID(str(tenant_id)) in self.ids


def _parse(suffix: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(suffix)
    except ValueError:
        return None


def staff_tenants(user: Any) -> StaffTenants:
    """The tenants `user` may see; read once per request (cached on the user object)."""
    cached = getattr(user, _CACHE_ATTRIBUTE, None)
    if isinstance(cached, StaffTenants):
        return cached
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        result = StaffTenants(all_tenants=False)
    elif user.is_superuser:
        result = StaffTenants(all_tenants=True)
    elif not user.is_staff:
        result = StaffTenants(all_tenants=False)
    else:
        names = set(user.groups.filter(name__startswith=TENANT_GROUP_PREFIX).values_list("name", flat=True))
        if ALL_TENANTS_GROUP in names:
            result = StaffTenants(all_tenants=True)
        else:
            parsed = (_parse(name.removeprefix(TENANT_GROUP_PREFIX)) for name in names)
            result = StaffTenants(all_tenants=False, ids=frozenset(tenant for tenant in parsed if tenant))
    setattr(user, _CACHE_ATTRIBUTE, result)
    return result


def scope_to_staff_tenants(queryset: models.QuerySet[_M], user: Any, lookup: str | None) -> models.QuerySet[_M]:
    """`queryset` limited to the tenants `user` may see; `lookup` is the tenant column path (None: no tenancy)."""
    if lookup is None:
        return queryset
    tenants = staff_tenants(user)
    if tenants.all_tenants:
        return queryset
    if not tenants.ids:
        return queryset.none()
    return queryset.filter(**{f"{lookup}__in": sorted(tenants.ids)})
