"""Rates as written in settings, and a bad one stopping start-up with one line naming it."""

from __future__ import annotations

import pytest

from apps.security.rates import Rate, parse_rate
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


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RATE_LIMIT_PER_ACTOR", "lots", "RATE_LIMIT_PER_ACTOR: not a rate: 'lots'"),
        ("RATE_LIMIT_PER_IP", "5/fortnight", "RATE_LIMIT_PER_IP: not a rate: '5/fortnight'"),
        ("RATE_LIMIT_SCOPES", "a:b=3/s,c=often", "RATE_LIMIT_SCOPES: c: not a rate: 'often'"),
        ("RATE_LIMIT_SCOPES", "3/minute", "RATE_LIMIT_SCOPES: expected name=value, got '3/minute'"),
    ],
)
def test_a_bad_rate_in_the_environment_stops_start_up(variable: str, value: str, message: str) -> None:
    """The app checks its rates when ready (settings import no app code): still one line, exit 2."""
    result = manage("check", env=clean_env(**{variable: value}))
    assert result.returncode == 2
    assert result.stderr.startswith(f"configuration error: {message}")
    assert result.stderr.count("\n") == 1, result.stderr
