"""ACL matching with the Accent (Wazo) platform's semantics, checked locally.

A token carries ACL *patterns*; an endpoint requires one concrete ACL such as
`documents.42.read`. In a pattern:

- `*` matches one segment: any characters but `.` (and `#`), possibly none;
- `#` matches any characters, dots included (`documents.#` needs the literal dot,
  so it does not match `documents`); a lone `#` matches everything;
- a whole segment `me` also matches the token's `auth_id`, a whole segment
  `my_session` also matches its `session_uuid`;
- a leading `!` makes the pattern negative: any matching negative pattern refuses
  access, wherever it sits in the list.

The required ACL is compared literally: a `*` or `#` in it is just a character.
`None` as the required ACL means "a valid token is enough".

Each token's patterns compile into two anchored alternations (negative, positive),
cached per (acl, auth_id, session_uuid), so a check is at most two regex matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

__all__ = ["AccessCheck", "fill_required_acl"]

_ONE_SEGMENT = "[^.#]*?"
_ANY = ".*?"
_NEVER = re.compile(r"(?!)")


def _segment_regex(segment: str, auth_id: str | None, session_uuid: str | None) -> str:
    if segment == "me" and auth_id:
        return f"(?:me|{re.escape(auth_id)})"
    if segment == "my_session" and session_uuid:
        return f"(?:my_session|{re.escape(session_uuid)})"
    # Escape everything, then give the two wildcards their meaning back.
    return re.escape(segment).replace(r"\*", _ONE_SEGMENT).replace(r"\#", _ANY)


def _pattern_regex(pattern: str, auth_id: str | None, session_uuid: str | None) -> str:
    return r"\.".join(_segment_regex(segment, auth_id, session_uuid) for segment in pattern.split("."))


@lru_cache(maxsize=1024)
def _compile(patterns: tuple[str, ...], auth_id: str | None, session_uuid: str | None) -> tuple[re.Pattern[str], ...]:
    """(negative, positive) alternations for one token; cached because a token is checked many times."""
    negative = [p[1:] for p in patterns if p.startswith("!")]
    positive = [p for p in patterns if not p.startswith("!")]
    compiled = []
    for group in (negative, positive):
        if not group:
            compiled.append(_NEVER)
            continue
        alternation = "|".join(f"(?:{_pattern_regex(p, auth_id, session_uuid)})" for p in group)
        compiled.append(re.compile(f"(?:{alternation})", re.DOTALL))
    return tuple(compiled)


class AccessCheck:
    """The ACL patterns of one caller, ready to answer `matches_required_access` quickly."""

    __slots__ = ("_negative", "_positive", "acl", "auth_id", "session_uuid")

    def __init__(self, auth_id: str | None, session_uuid: str | None, acl: Iterable[str]) -> None:
        self.auth_id = auth_id
        self.session_uuid = session_uuid
        self.acl: tuple[str, ...] = tuple(acl)
        self._negative, self._positive = _compile(self.acl, auth_id, session_uuid)

    def matches_required_access(self, required_access: str | None) -> bool:
        if required_access is None:
            return True
        if self._negative.fullmatch(required_access):
            return False
        return self._positive.fullmatch(required_access) is not None

    def __repr__(self) -> str:
        return f"AccessCheck(auth_id={self.auth_id!r}, acl={list(self.acl)!r})"


def fill_required_acl(template: str, values: Mapping[str, object]) -> str:
    """`documents.{pk}.read` with `pk` from `values`; dots in a value become `_` (one segment each).

    Raises `KeyError` when the template names a value that is not given.
    """
    return template.format_map({key: str(value).replace(".", "_") for key, value in values.items()})
