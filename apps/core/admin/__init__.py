"""Admin building blocks for soft-deleted, audited, tenant-owned data (see docs/admin.md).

- `SoftDeleteModelAdmin`: the base ModelAdmin of a soft-deletable model.
- `AuditHistoryMixin`: a History page of audit events with diffs, for any audited model.
- `TenantScopedAdminMixin`, `staff_tenants`: staff see only their tenants (`tenant:<uuid>` groups),
  foreign keys included.
- `ConstraintValidatingForm`: admin forms validate the unique constraints Django's ModelForm skips.
- `ValidSelectionMixin`: an action posted with a malformed id changes nothing (not a 500).
- `LargeTableAdminMixin`, `EstimatedCountPaginator`: no `COUNT(*)` over huge tables.
- `AuditEventAdmin`: the audit log, read-only for everyone (registered here).
"""

from apps.core.admin.action_selection import ValidSelectionMixin
from apps.core.admin.audit_event_admin import AuditEventAdmin
from apps.core.admin.audit_history import AuditHistoryMixin
from apps.core.admin.constraint_form import ConstraintValidatingForm
from apps.core.admin.estimated_count import EstimatedCountPaginator, LargeTableAdminMixin, planner_row_estimate
from apps.core.admin.soft_delete_admin import AUDIT_FIELDS, DeletionStateFilter, SoftDeleteModelAdmin
from apps.core.admin.tenant_scoped_admin import TenantScopedAdminMixin
from apps.core.admin.tenants import ALL_TENANTS_GROUP, TENANT_GROUP_PREFIX, StaffTenants, staff_tenants

__all__ = [
    "ALL_TENANTS_GROUP",
    "AUDIT_FIELDS",
    "TENANT_GROUP_PREFIX",
    "AuditEventAdmin",
    "AuditHistoryMixin",
    "ConstraintValidatingForm",
    "DeletionStateFilter",
    "EstimatedCountPaginator",
    "LargeTableAdminMixin",
    "SoftDeleteModelAdmin",
    "StaffTenants",
    "TenantScopedAdminMixin",
    "ValidSelectionMixin",
    "planner_row_estimate",
    "staff_tenants",
]
