"""Redis's glob dialect (`SCAN MATCH`, `KEYS`), for the local-memory store to match exactly as Redis does.

Ported from the rules of Redis's `stringmatchlen` (util.c), over UTF-8 bytes as Redis sees keys:

- `*` any run of bytes (empty too), `?` exactly one byte (so one `?` does not match `é`);
- `[abc]` one of, `[a-c]` a range (`[c-a]` is the same range), `[^a]` none of; `!` is not special
  (`[!a]` is `!` or `a`); `\\x` inside a class is a literal `x`; a class runs to the next `]` or to the
  end of the pattern (`doc:[ab` is `doc:` and one of `a`, `b`), and `[]` matches nothing;
- `\\x` outside a class is a literal `x`; a trailing lone `\\` is a literal backslash.

Python's `fnmatch` differs on `[!a]`, `[^a]`, `\\`, unclosed `[` and `[]`. Matching walks the pattern
once with a single backtrack point for the last `*`, so no pattern can make it take exponential time.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RedisGlob"]

_ASTERISK, _ANY, _OPEN, _CLOSE, _NOT, _RANGE, _ESCAPE = b"*?[]^-\\"


@dataclass(frozen=True, slots=True)
class _Class:
    negated: bool
    members: frozenset[int]
    ranges: tuple[tuple[int, int], ...]

    def matches(self, byte: int) -> bool:
        found = byte in self.members or any(low <= byte <= high for low, high in self.ranges)
        return found != self.negated


class _Star:
    """`*` (one token for a run of them)."""


_STAR = _Star()
_Token = int | _Class | _Star | None  # a literal byte, a class, `*`, `?` (None)


def _parse_class(pattern: bytes, start: int) -> tuple[_Class, int]:
    """The class opened just before `start`, and where the pattern goes on after it."""
    end = len(pattern)
    index = start
    negated = index < end and pattern[index] == _NOT
    if negated:
        index += 1
    members: set[int] = set()
    ranges: list[tuple[int, int]] = []
    while True:
        if index < end and pattern[index] == _ESCAPE and end - index >= 2:
            index += 1
            members.add(pattern[index])
        elif index < end and pattern[index] == _CLOSE:
            break
        elif index == end:
            index -= 1  # unclosed: the class ends with the pattern
            break
        elif end - index >= 3 and pattern[index + 1] == _RANGE:
            low, high = sorted((pattern[index], pattern[index + 2]))
            ranges.append((low, high))
            index += 2
        else:
            members.add(pattern[index])
        index += 1
    return _Class(negated, frozenset(members), tuple(ranges)), index + 1


def _tokens(pattern: bytes) -> list[_Token]:
    tokens: list[_Token] = []
    index, end = 0, len(pattern)
    while index < end:
        byte = pattern[index]
        if byte == _ASTERISK:
            if not tokens or tokens[-1] is not _STAR:  # `**` is `*`
                tokens.append(_STAR)
            index += 1
        elif byte == _ANY:
            tokens.append(None)
            index += 1
        elif byte == _OPEN:
            token, index = _parse_class(pattern, index + 1)
            tokens.append(token)
        else:
            if byte == _ESCAPE and end - index >= 2:
                index += 1
            tokens.append(pattern[index])
            index += 1
    return tokens


def _one(token: _Token, byte: int) -> bool:
    if token is None:
        return True
    if isinstance(token, int):
        return token == byte
    return isinstance(token, _Class) and token.matches(byte)


class RedisGlob:
    """A compiled pattern: `RedisGlob("doc:[a-c]*").matches("doc:b1")`."""

    __slots__ = ("_tokens",)

    def __init__(self, pattern: str) -> None:
        self._tokens = _tokens(pattern.encode())

    def matches(self, key: str) -> bool:
        tokens, data = self._tokens, key.encode()
        count = len(tokens)
        token_at = byte_at = 0
        star_at, star_byte = -1, 0
        while byte_at < len(data):
            if token_at < count and tokens[token_at] is _STAR:
                star_at, star_byte = token_at, byte_at
                token_at += 1
            elif token_at < count and _one(tokens[token_at], data[byte_at]):
                token_at += 1
                byte_at += 1
            elif star_at >= 0:  # let the last `*` take one more byte and try again
                star_byte += 1
                token_at, byte_at = star_at + 1, star_byte
            else:
                return False
        while token_at < count and tokens[token_at] is _STAR:
            token_at += 1
        return token_at == count
