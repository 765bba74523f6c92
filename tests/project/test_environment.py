"""Settings parsing: each reader's values, defaults and the one-line errors that name the variable."""

from __future__ import annotations

import pytest

from project.environment import ConfigurationError, EnvReader


def reader(**values: str) -> EnvReader:
    return EnvReader(values)


def test_unset_and_blank_values_take_the_default() -> None:
    env = reader(BLANK="  ")
    assert env.string("MISSING", "fallback") == "fallback"
    assert env.string("BLANK", "fallback") == "fallback"
    assert env.integer("MISSING", 7) == 7
    assert env.boolean("BLANK", True) is True
    assert env.strings("MISSING", ["a"]) == ["a"]
    assert env.url("MISSING", None, schemes={"http"}) is None


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("YES", True), ("off", False), ("0", False)]
)
def test_booleans_accept_the_usual_spellings(raw: str, expected: bool) -> None:
    assert reader(FLAG=raw).boolean("FLAG", not expected) is expected


@pytest.mark.parametrize(
    ("method", "raw", "message"),
    [
        ("boolean", "maybe", "FLAG: expected true or false, got 'maybe'"),
        ("integer", "5s", "FLAG: expected a whole number, got '5s'"),
        ("number", "fast", "FLAG: expected a number, got 'fast'"),
    ],
)
def test_malformed_scalars_name_the_variable_and_the_value(method: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        getattr(reader(FLAG=raw), method)("FLAG", 1)
    assert str(caught.value) == message
    assert caught.value.variable == "FLAG"


def test_numbers_below_their_minimum_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="TIMEOUT: must be at least 1, got 0"):
        reader(TIMEOUT="0").integer("TIMEOUT", 5, minimum=1)
    with pytest.raises(ConfigurationError, match=r"DELAY: must be at least 0\.0"):
        reader(DELAY="-1.5").number("DELAY", 1.0)
    assert reader(DELAY="2.5").number("DELAY", 1.0) == 2.5


def test_lists_are_comma_separated_and_trimmed() -> None:
    assert reader(HOSTS=" a.example , b.example,, ").strings("HOSTS", []) == ["a.example", "b.example"]


def test_choice_normalises_case_and_refuses_unknown_values() -> None:
    levels = ["DEBUG", "INFO"]
    assert reader(LOG_LEVEL="debug").choice("LOG_LEVEL", "INFO", levels) == "DEBUG"
    assert reader(LOG_FORMAT="JSON").choice("LOG_FORMAT", "console", ["console", "json"]) == "json"
    with pytest.raises(ConfigurationError, match="LOG_LEVEL: expected one of DEBUG, INFO, got 'loud'"):
        reader(LOG_LEVEL="loud").choice("LOG_LEVEL", "INFO", levels)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ftp://host/x", "expected a URL with scheme"),
        ("redis://", "the URL names no host"),
        ("redis://localhost:notaport/0", "invalid port"),
        ("localhost:6379", "expected a URL with scheme"),
    ],
)
def test_malformed_urls_are_refused(value: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as caught:
        reader(REDIS_URL=value).url("REDIS_URL", None, schemes={"redis", "rediss"})
    assert str(caught.value).startswith("REDIS_URL: ")


def test_database_urls_become_django_database_settings() -> None:
    config = reader(DATABASE_URL="postgres://svc:secret@db.internal:6543/app").database("DATABASE_URL", "sqlite://")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == ("db.internal", 6543, "app", "svc")


def test_malformed_database_url_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match=r"^DATABASE_URL: expected a URL with scheme"):
        reader(DATABASE_URL="not a url").database("DATABASE_URL", "sqlite://")


def test_pairs_read_name_value_items_and_refuse_an_item_without_a_name() -> None:
    env = reader(SCOPES=" a:b = 3/s ,, c=off ")
    assert env.pairs("SCOPES", {"x": "1/s"}) == {"a:b": "3/s", "c": "off"}
    assert env.pairs("MISSING", {"x": "1/s"}) == {"x": "1/s"}
    for bad in ("3/minute", "=3/minute"):
        with pytest.raises(ConfigurationError, match=f"^SCOPES: expected name=value, got '{bad}'$"):
            reader(SCOPES=bad).pairs("SCOPES", {})
