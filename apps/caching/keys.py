"""Cache keys: the logical key a caller sees (`document:42`) and where it lives in Redis.

A logical key is `<key_prefix>:<arg>:<arg>:<name>=<kwarg>`, plus `@<tenant>` when a tenant is
active (`apps.core.context.in_tenant`), so two tenants never share an entry. Arguments that are
long, contain glob or separator characters, or are containers are replaced by a short stable
hash, so a key stays short and `invalidate_pattern("document:*")` cannot be confused by data.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from apps.core.context import current_tenant

__all__ = ["KeyLayout", "cache_key", "key_part"]

_PLAIN_TYPES = (int, str, uuid.UUID, float, decimal.Decimal, datetime.date, datetime.datetime)
_UNSAFE_CHARACTERS = frozenset(":*?[]\\ @=\n\r\t")
_MAX_PLAIN_LENGTH = 64


def _digest(data: bytes) -> str:
    return "h" + hashlib.blake2b(data, digest_size=12).hexdigest()


def key_part(value: object) -> str:
    """One argument as a key segment: itself when short and plain, a stable hash otherwise."""
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(value, _PLAIN_TYPES):
        text = value.isoformat() if isinstance(value, datetime.date) else str(value)
        if len(text) <= _MAX_PLAIN_LENGTH and not _UNSAFE_CHARACTERS.intersection(text):
            return text
        return _digest(text.encode())
    if isinstance(value, Mapping | Sequence | set | frozenset):
        try:
            encoded = orjson.dumps(
                sorted(value, key=repr) if isinstance(value, set | frozenset) else value,
                option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                default=str,
            )
        except TypeError as error:
            raise TypeError(f"cannot build a cache key from {type(value).__name__}: {error}") from error
        return _digest(encoded)
    raise TypeError(
        f"cannot build a cache key from a {type(value).__name__} argument; "
        "pass key_builder= to @cached (model instances: pass their pk)"
    )


def cache_key(key_prefix: str, *args: object, **kwargs: object) -> str:
    """The logical key `@cached(key_prefix=...)` uses for these arguments (without `self`/`cls`)."""
    parts = [key_prefix]
    parts.extend(key_part(arg) for arg in args)
    if kwargs:
        parts.extend(f"{name}={key_part(kwargs[name])}" for name in sorted(kwargs))
    tenant = current_tenant()
    if tenant is not None:
        parts.append(f"@{tenant}")
    return ":".join(parts)


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Where each kind of data lives under the namespace `<CACHE_KEY_PREFIX>:c:`."""

    namespace: str

    @classmethod
    def for_prefix(cls, prefix: str) -> KeyLayout:
        return cls(f"{prefix}:c:" if prefix else "c:")

    def entry(self, key: str) -> str:
        return f"{self.namespace}e:{key}"

    def key_generation(self, key: str) -> str:
        return f"{self.namespace}gk:{key}"

    def tag_set(self, tag: str) -> str:
        return f"{self.namespace}t:{tag}"

    def tag_generation(self, tag: str) -> str:
        return f"{self.namespace}gt:{tag}"

    def lock(self, key: str) -> str:
        return f"{self.namespace}l:{key}"

    def refresh_token(self, key: str) -> str:
        return f"{self.namespace}r:{key}"

    def draining(self, tag: str, unique: str) -> str:
        return f"{self.namespace}x:{tag}:{unique}"

    def logical(self, entry_key: str) -> str:
        """The logical key of an entry key (`service:c:e:document:42` → `document:42`)."""
        return entry_key[len(self.namespace) + 2 :]
