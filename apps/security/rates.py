"""Rates as written in settings: `"100/minute"`, `"5/10s"`, `"off"`. Pure: the app checks its settings with it."""

from __future__ import annotations

import dataclasses
import re

__all__ = ["Rate", "parse_rate"]

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


@dataclasses.dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`"100/minute"`, `"5/10s"`, `"1000/hour"`, `"20/day"`."""
        match = _RATE.match(text.lower())
        if not match or match.group(3) not in _PERIODS or int(match.group(1)) < 1:
            raise ValueError(f"not a rate: {text!r} (expected e.g. 100/minute, 5/10s)")
        multiplier = int(match.group(2) or 1)
        return cls(limit=int(match.group(1)), seconds=multiplier * _PERIODS[match.group(3)])

    @property
    def policy(self) -> str:
        """The `RateLimit-Policy` item: `100;w=60`."""
        return f"{self.limit};w={self.seconds}"


def parse_rate(text: str) -> Rate | None:
    """A `Rate`, or None for `off` (the limit is disabled)."""
    if text.strip().lower() in {"", "off", "none"}:
        return None
    return Rate.parse(text)
