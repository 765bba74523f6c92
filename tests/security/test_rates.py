"""Rates as written in settings, and a bad one stopping start-up with one line naming it."""

from __future__ import annotations

import pytest

from apps.security.rates import Rate, parse_rate, parse_scopes
from tests.processes import clean_env, manage


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("100/minute", Rate(100, 60)),
        ("5/10s", Rate(5, 10)),
        ("1000/hour", Rate(1000, 3600)),
        ("2/days", Rate(2, 86400)),
    ],
)
def test_rates_parse(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


def test_off_disables_and_nonsense_is_refused() -> None:
    assert parse_rate("off") is None
    for bad in ("0/minute", "ten/minute", "5/fortnight", "5"):
        with pytest.raises(ValueError, match="not a rate"):
            parse_rate(bad)
    assert parse_scopes(["a:b=3/s", " c = off "]) == {"a:b": "3/s", "c": "off"}
    with pytest.raises(ValueError, match="scope=rate"):
        parse_scopes(["3/minute"])


def test_a_bad_rate_in_the_environment_stops_start_up() -> None:
    result = manage("check", env=clean_env(RATE_LIMIT_PER_ACTOR="lots"))
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: RATE_LIMIT_PER_ACTOR: not a rate: 'lots'")
