"""Cache keys: the logical key a caller sees (`document:42`) and where it lives in Redis.

A logical key is `<key_prefix>:<arg>:<arg>:<name>=<kwarg>`, plus `@<tenant>` when a tenant is
active (`apps.core.context.in_tenant`), so two tenants never share an entry.

Arguments of different types never share a segment: an `int` and a plain string appear as
themselves (`document:42`, `report:weekly`); every other type carries a `~<type>` tag
(`~N` None, `~T`/`~F` booleans, `~f1.0` float, `~d1.50` Decimal, `~u<uuid>`, `~D<date>`,
`~t<datetime>`, `~b<hex>` bytes), and a string that reads like an int is tagged `~s`
(`"2"` → `~s2`). Long values, `~`, glob or separator characters and containers become
`~h<hash>` of a typed encoding (a tuple and a list differ, a set and a dict are sorted), so a
key stays short, `invalidate_pattern("document:*")` cannot be confused by data, and the same
arguments give the same key in every process (blake2b, never `hash()`).
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import re
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.crc import key_slot

from apps.core.context import current_tenant

__all__ = ["KeyLayout", "cache_key", "glob_escape", "key_part", "tag_list"]

_UNSAFE_CHARACTERS = frozenset(":*?[]\\ @=~\n\r\t")
_MAX_PLAIN_LENGTH = 64
_READS_AS_INT = re.compile(r"-?[0-9]+")

# The typed encoding of a value inside a hashed segment: JSON of [tag, ...], nested for containers.
_Encoded = list[object]


def _digest(encoded: _Encoded) -> str:
    return "~h" + hashlib.blake2b(orjson.dumps(encoded), digest_size=12).hexdigest()


def _fits(text: str) -> bool:
    return len(text) <= _MAX_PLAIN_LENGTH and not _UNSAFE_CHARACTERS.intersection(text)


# (type, tag, text) in the order they are tried: bool before int, datetime before date (subclasses).
_SCALARS: tuple[tuple[type, str, Callable[[Any], str]], ...] = (
    (type(None), "N", lambda value: ""),
    (bool, "", lambda value: "T" if value else "F"),
    (int, "i", str),
    (str, "s", str),
    (float, "f", repr),
    (decimal.Decimal, "d", str),
    (uuid.UUID, "u", str),
    # Colons sit at fixed places in isoformat(): dropping them keeps it one-to-one.
    (datetime.datetime, "t", lambda value: value.isoformat().replace(":", "")),
    (datetime.date, "D", lambda value: value.isoformat()),
    (bytes, "b", lambda value: value.hex()),
)


def _scalar(value: object) -> tuple[str, str] | None:
    """(tag, text) of a scalar argument, None for a container or an unsupported type."""
    for kind, tag, text in _SCALARS:
        if isinstance(value, kind):
            return tag, text(value)
    return None


def _encode(value: object) -> _Encoded:
    scalar = _scalar(value)
    if scalar is not None:
        return list(scalar)
    if isinstance(value, Mapping):
        items = [[_encode(key), _encode(item)] for key, item in value.items()]
        return ["m", sorted(items, key=orjson.dumps)]
    if isinstance(value, set | frozenset):
        return ["S" if isinstance(value, set) else "Z", sorted((_encode(item) for item in value), key=orjson.dumps)]
    if isinstance(value, Sequence):
        tag = {list: "l", tuple: "t"}.get(type(value), f"q{type(value).__qualname__}")
        return [tag, [_encode(item) for item in value]]
    raise TypeError(
        f"cannot build a cache key from a {type(value).__name__} argument; "
        "pass key_builder= to @cached (model instances: pass their pk)"
    )


def key_part(value: object) -> str:
    """One argument as a key segment: readable when short and plain, typed, never shared across types."""
    if type(value) is int:  # the common case first: ids
        return str(value)
    scalar = _scalar(value)
    if scalar is None:
        return _digest(_encode(value))
    tag, text = scalar
    if not _fits(text):
        return _digest([tag, text])
    if tag == "i" or (tag == "s" and not _READS_AS_INT.fullmatch(text)):
        return text  # ints (IntEnum members too) and plain strings read as themselves
    return f"~{tag}{text}"


def _keyword(name: str) -> str:
    # A `**kwargs` name can hold any text: `f(**{"b=1:c": 2})` must not read as `f(b=1, c=2)`.
    return name if name.isidentifier() and _fits(name) else _digest(["k", name])


def cache_key(key_prefix: str, *args: object, **kwargs: object) -> str:
    """The logical key `@cached(key_prefix=...)` uses for these arguments (without `self`/`cls`)."""
    parts = [key_prefix]
    parts.extend(key_part(arg) for arg in args)
    if kwargs:
        parts.extend(f"{_keyword(name)}={key_part(kwargs[name])}" for name in sorted(kwargs))
    tenant = current_tenant()
    if tenant is not None:
        parts.append(f"@{tenant}")
    return ":".join(parts)


def tag_list(tags: Iterable[str], *, what: str) -> list[str]:
    """`tags` without repeats, or TypeError unless they are non-empty strings.

    A bare string is refused, not iterated: tagging (or invalidating) by its characters would
    make `invalidate_tags("document:1")` miss the entries tagged `document:1`.
    """
    if isinstance(tags, str | bytes):
        raise TypeError(f"{what} must be a list of tags, not the string {tags!r} (write [{tags!r}])")
    listed = list(tags)
    if not all(isinstance(tag, str) and tag for tag in listed):
        raise TypeError(f"{what} must be non-empty strings, not {listed!r}")
    return list(dict.fromkeys(listed))


def glob_escape(text: str) -> str:
    """`text` as a literal inside a Redis SCAN/KEYS pattern."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _balanced_spaces(namespace: str, shards: int) -> tuple[str, ...]:
    """One hash tag per shard, the i-th in the i-th of `shards` equal ranges of the 16,384 slots.

    `redis-cli --cluster create` (and most operators) give each master a contiguous, equal range of
    slots, so evenly spaced shards land evenly on the masters (16 shards on 3 masters: 6/5/5).
    """
    spaces = []
    width = 16384 / shards
    for shard in range(shards):
        for salt in range(1 << 16):
            space = f"{{{namespace}{shard:02x}{salt:04x}}}"
            if int(key_slot(space.encode()) // width) == shard:
                spaces.append(space)
                break
    return tuple(spaces)


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Where each kind of data lives under the namespace `<CACHE_KEY_PREFIX>:c:`.

    On a single Redis (`shards == 0`) every name is `<namespace><kind>:<name>`. On a Redis Cluster
    each entry belongs to one of `shards` shards (by its key), and every name that a script touches
    together with the entry carries that shard's hash tag, `{<namespace><shard><salt>}<kind>:<name>`,
    so the entry, its key generation, and its shard's copy of each tag set and tag generation share a
    slot. A tag has one set and one generation per shard; invalidating it visits every shard.
    """

    namespace: str
    shards: int = 0
    spaces: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def for_prefix(cls, prefix: str, *, shards: int = 0) -> KeyLayout:
        namespace = f"{prefix}:c:" if prefix else "c:"
        if not 0 <= shards <= 256:
            raise ValueError(f"shards must be between 0 (a single Redis) and 256, not {shards}")
        return cls(namespace, shards, _balanced_spaces(namespace, shards) if shards else (namespace,))

    def shard(self, key: str) -> int:
        """The shard of a logical key (always 0 on a single Redis)."""
        return zlib.crc32(key.encode()) % self.shards if self.shards else 0

    def shard_ids(self) -> range:
        """Every shard a tag has a set and a generation in."""
        return range(self.shards or 1)

    def space_glob(self) -> str:
        """A SCAN pattern matching the start of every name of this namespace, in every shard."""
        escaped = glob_escape(self.namespace)
        return escaped if not self.shards else "{" + escaped + "??????}"

    def kind_start(self) -> int:
        """Where the kind (`e`, `t`, `gt`, ...) starts in every name of this namespace."""
        return len(self.spaces[0])

    def entry(self, key: str) -> str:
        if not self.shards:
            return f"{self.namespace}e:{key}"
        return f"{self.spaces[self.shard(key)]}e:{key}"

    def key_generation(self, key: str) -> str:
        if not self.shards:
            return f"{self.namespace}gk:{key}"
        return f"{self.spaces[self.shard(key)]}gk:{key}"

    def tag_set(self, tag: str, shard: int = 0) -> str:
        return f"{self.spaces[shard]}t:{tag}"

    def tag_generation(self, tag: str, shard: int = 0) -> str:
        return f"{self.spaces[shard]}gt:{tag}"

    def lock(self, key: str) -> str:
        return f"{self.spaces[self.shard(key)]}l:{key}"

    def refresh_token(self, key: str) -> str:
        return f"{self.spaces[self.shard(key)]}r:{key}"

    def draining(self, tag: str, unique: str, shard: int = 0) -> str:
        return f"{self.spaces[shard]}x:{tag}:{unique}"

    def logical(self, entry_key: str) -> str:
        """The logical key of an entry key (`service:c:e:document:42` → `document:42`)."""
        return entry_key[len(self.spaces[0]) + 2 :]
