"""Start-up from the command line: one clear line for a bad environment, clean deploy checks."""

from __future__ import annotations

import secrets

import pytest

from tests.processes import clean_env, manage

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "service.example.com",
}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "postgres//nohost", "configuration error: DATABASE_URL: expected a URL with scheme"),
        ("REDIS_URL", "redis://cache:port/0", "configuration error: REDIS_URL: the URL has an invalid port"),
        ("DATABASE_CONNECT_TIMEOUT", "soon", "configuration error: DATABASE_CONNECT_TIMEOUT: expected a whole number"),
        ("LOG_LEVEL", "chatty", "configuration error: LOG_LEVEL: expected one of DEBUG, INFO"),
        ("DJANGO_DEBUG", "perhaps", "configuration error: DJANGO_DEBUG: expected true or false"),
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_it(variable: str, value: str, message: str) -> None:
    result = manage("check", env=clean_env(**{variable: value}))
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_production_mode_refuses_the_development_secret_key() -> None:
    result = manage("check", env=clean_env(DJANGO_DEBUG="false", DJANGO_ALLOWED_HOSTS="service.example.com"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: DJANGO_SECRET_KEY: production mode (DJANGO_DEBUG=false) "
        "needs a unique secret of at least 50 characters"
    )


def test_production_mode_needs_allowed_hosts() -> None:
    env = clean_env(**{**PRODUCTION, "DJANGO_ALLOWED_HOSTS": ""})
    result = manage("check", env=env)
    assert result.returncode == 2
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_deploy_checks_are_clean_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=clean_env(**PRODUCTION))
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_superuser_is_created_once_and_refused_in_production(tmp_path: pytest.TempPathFactory) -> None:
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path}/dev.sqlite3", DEV_SUPERUSER_PASSWORD="s3cret-dev")
    assert manage("migrate", "--noinput", env=env).returncode == 0
    first = manage("ensure_dev_superuser", env=env)
    assert first.stdout.strip() == "Development superuser created: admin / s3cret-dev"
    second = manage("ensure_dev_superuser", env=env)
    assert second.stdout.strip() == "Development superuser exists: admin (password unchanged)"
    refused = manage("ensure_dev_superuser", env={**env, **PRODUCTION})
    assert refused.returncode == 1
    assert "refusing to create a development superuser" in refused.stderr
