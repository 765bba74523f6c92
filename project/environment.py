"""Typed, validated reading of the process environment for settings.

Every setting the service takes from its environment goes through `EnvReader`, so a
bad value stops start-up with one line that names the variable (`ConfigurationError`)
instead of a traceback from deep inside Django.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

__all__ = ["ConfigurationError", "EnvReader", "exit_on_configuration_error"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigurationError(ImproperlyConfigured):
    """An environment variable holds a value the service cannot run with."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class EnvReader:
    """Reads and validates variables from a mapping (the process environment by default)."""

    def __init__(self, environ_mapping: Mapping[str, str] | None = None) -> None:
        self._environ: Mapping[str, str] = os.environ if environ_mapping is None else environ_mapping

    def is_set(self, name: str) -> bool:
        return bool(self._environ.get(name, "").strip())

    def string(self, name: str, default: str) -> str:
        value = self._environ.get(name)
        return default if value is None or value.strip() == "" else value.strip()

    def optional_string(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def boolean(self, name: str, default: bool) -> bool:
        if not self.is_set(name):
            return default
        value = self._environ[name].strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigurationError(name, f"expected true or false, got {self._environ[name]!r}")

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        if not self.is_set(name):
            return default
        raw = self._environ[name].strip()
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(name, f"expected a whole number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigurationError(name, f"must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        if not self.is_set(name):
            return default
        raw = self._environ[name].strip()
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(name, f"expected a number, got {raw!r}") from None
        if value < minimum:
            raise ConfigurationError(name, f"must be at least {minimum}, got {value}")
        return value

    def strings(self, name: str, default: list[str]) -> list[str]:
        if not self.is_set(name):
            return list(default)
        return [item.strip() for item in self._environ[name].split(",") if item.strip()]

    def pairs(self, name: str, default: dict[str, str]) -> dict[str, str]:
        """`name=value` items, comma-separated, as a dict (`RATE_LIMIT_SCOPES=a:b=5/minute,c=off`)."""
        if not self.is_set(name):
            return dict(default)
        pairs: dict[str, str] = {}
        for item in self.strings(name, []):
            key, separator, value = item.partition("=")
            if not separator or not key.strip():
                raise ConfigurationError(name, f"expected name=value, got {item!r}")
            pairs[key.strip()] = value.strip()
        return pairs

    def choice(self, name: str, default: str, choices: list[str]) -> str:
        value = self.string(name, default)
        normalised = value.upper() if all(c.isupper() for c in choices) else value.lower()
        if normalised not in choices:
            raise ConfigurationError(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return normalised

    def url(self, name: str, default: str | None, *, schemes: set[str]) -> str | None:
        """A URL whose scheme is one of `schemes`; `default` when unset."""
        value = self.optional_string(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            expected = ", ".join(sorted(schemes))
            raise ConfigurationError(name, f"expected a URL with scheme {expected}, got {value!r}")
        if parts.scheme not in {"sqlite", "memory"} and not parts.hostname:
            raise ConfigurationError(name, f"the URL names no host: {value!r}")
        try:
            parts.port  # noqa: B018 - urlsplit validates the port lazily
        except ValueError:
            raise ConfigurationError(name, f"the URL has an invalid port: {value!r}") from None
        return value

    def database(self, name: str, default: str) -> dict[str, Any]:
        """A `DATABASES` entry from a database URL (django-environ's schemes)."""
        url = self.url(name, default, schemes=set(environ.Env.DB_SCHEMES))
        assert url is not None
        try:
            config: dict[str, Any] = environ.Env.db_url_config(url)
        except Exception as exc:  # django-environ raises assorted errors on odd URLs
            raise ConfigurationError(name, f"cannot parse database URL: {exc}") from None
        return config


@contextmanager
def exit_on_configuration_error() -> Iterator[None]:
    """Turn a configuration error into one line on stderr and exit status 2.

    Settings raise `ConfigurationError`; an app that validates its own settings when it is
    ready (`AppConfig.ready()`) raises Django's `ImproperlyConfigured`, naming the setting
    first (apps import nothing from `project`): both end here the same way.
    """
    try:
        yield
    except ImproperlyConfigured as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
