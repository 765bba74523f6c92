"""`ConstraintValidatingForm`: admin forms check the unique constraints Django's ModelForm skips.

Django validates a model's `UniqueConstraint` in a ModelForm only when every field it
names, and every field its condition reads, is a field of the form. The admin's forms of
tenant-owned, soft-deletable rows never hold `tenant_id` (the admin sets it) nor
`deleted_at`, so a partial unique constraint such as `unique_for_alive_rows("tenant_id",
"title")` would reach the database unchecked and answer with an IntegrityError. This form
validates those constraints against the instance as it will be saved: the form's values
plus the ones the admin set on the instance before validation.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import router
from django.db.models import Q, UniqueConstraint

__all__ = ["ConstraintValidatingForm"]


class ConstraintValidatingForm(forms.ModelForm[Any]):
    """A ModelForm base that also validates the unique constraints reading fields outside the form."""

    def validate_unique(self) -> None:
        super().validate_unique()
        model = type(self.instance)
        failed = {name for name in self.errors if name != NON_FIELD_ERRORS}
        for constraint in model._meta.constraints:
            if not isinstance(constraint, UniqueConstraint) or not constraint.fields:
                continue
            read = set(constraint.fields)
            if isinstance(constraint.condition, Q):
                read |= constraint.condition.referenced_base_fields
            if read <= set(self.fields) or read & failed:
                continue  # Django validated it already, or a field it reads is already wrong
            try:
                using = router.db_for_write(model, instance=self.instance)
                constraint.validate(model, self.instance, using=using)  # type: ignore[attr-defined]  # not in the stubs
            except ValidationError:
                self._add_violation(constraint)

    def _add_violation(self, constraint: UniqueConstraint) -> None:
        shown = [name for name in constraint.fields if name in self.fields]
        message: Any
        if constraint.violation_error_message == constraint.default_violation_error_message:
            # "Document with this Title already exists.": named by the fields the user can change.
            message = self.instance.unique_error_message(type(self.instance), tuple(shown or constraint.fields))
        else:
            message = constraint.get_violation_error_message()
        self.add_error(shown[0] if len(shown) == 1 else None, message)
