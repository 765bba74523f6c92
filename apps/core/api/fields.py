"""`StrictCharField`: a serializer string field that takes only JSON strings, and only storable ones.

DRF's `CharField` turns `12`, `1.5` and `true` into `"12"`, `"1.5"`, `"True"`: a client
that sends a number where the schema says string has a bug it should hear about, and
the stored text would not be what it sent. Text with NUL or lone surrogates is refused
by the validator the model fields use too (`apps.core.validators`).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.validators import validate_storable_text

__all__ = ["StrictCharField"]


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Not a valid string: expected a JSON string, got a {kind}."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(validate_storable_text)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid", kind=_json_kind(data))
        return super().to_internal_value(data)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
