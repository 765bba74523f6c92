"""`validate_storable_text`: text the databases can store and the API can render back.

PostgreSQL refuses NUL in `text` and `jsonb` (psycopg raises before the query is sent),
and a lone UTF-16 surrogate (`"\\ud800"` in JSON, accepted by Python's `json`) is not
Unicode at all: no UTF-8 encoder, database driver or JSON renderer takes it. Both
arrive through the API and the admin's JSON field; refused here, they are a 400 or a
form error instead of a 500. The one validator is on the model fields (so ModelForms,
the admin included, run it) and on the API's string fields (`apps.core.api.fields`).

`StorableJSONDecoder` is the same rule for a model `JSONField`'s decoder: Django's JSON
form field re-renders a decoded value with `ensure_ascii=False`, so a lone surrogate
would fail the page after the validator refused it; refused while decoding, the form
shows the error with the text as it was typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

__all__ = ["StorableJSONDecoder", "StorableTextValidator", "validate_storable_text"]

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _strings(value: object) -> Iterator[str]:
    """Every string in `value`, JSON containers (keys too) walked without recursion."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)


@deconstructible
class StorableTextValidator:
    """Refuses NUL characters and lone surrogates in a string, or in any string of a JSON value."""

    message = "Text must not contain NUL characters or unpaired surrogates (%(character)s)."
    code = "unstorable_text"

    def __call__(self, value: object) -> None:
        for text in _strings(value):
            found = _UNSTORABLE.search(text)
            if found:
                character = f"U+{ord(found.group()):04X}"
                raise ValidationError(self.message, code=self.code, params={"character": character})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorableTextValidator)

    def __hash__(self) -> int:
        return hash(StorableTextValidator)


validate_storable_text = StorableTextValidator()


class StorableJSONDecoder(json.JSONDecoder):
    """`json` decoding that refuses what `validate_storable_text` refuses, as invalid JSON."""

    def decode(self, s: str, *args: object, **kwargs: object) -> object:
        value = super().decode(s, *args, **kwargs)  # type: ignore[arg-type]  # _w is internal
        try:
            validate_storable_text(value)
        except ValidationError as error:
            raise json.JSONDecodeError(error.messages[0], s, 0) from None
        return value
