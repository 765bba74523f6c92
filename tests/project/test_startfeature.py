"""`manage.py startfeature NAME`: a feature app whose own tests pass at once, whose API serves, whose code is clean.

The process test generates `invoices` in a copy of this checkout (`tests.processes.copy_checkout`),
then runs there what a team would: the migrations check, the generated tests, a server with the
stand-in Accent-Auth, and the static checks on the generated code. The refusals run here: they must write nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.processes import ROOT, clean_env, copy_checkout, free_port, running_server

STANDIN_USERS = Path("devtools/accent_auth_standin/users.toml")
SETTINGS = Path("project/settings.py")


def _run(copy: Path, *command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    copy = copy_checkout(tmp_path_factory.mktemp("startfeature") / "service")
    env = clean_env(DATABASE_URL=f"sqlite:///{copy / 'var' / 'db.sqlite3'}")
    env.pop("TEST_REQUIRE_SERVICES", None)
    env.pop("ACCENT_AUTH_STANDIN_CONFIG", None)
    result = _run(copy, sys.executable, "manage.py", "startfeature", "invoices", env=env)
    assert "Created apps/invoices/" in result.stdout
    return copy, env


@pytest.mark.process
def test_startfeature_writes_a_registered_app_with_its_migration(generated: tuple[Path, dict[str, str]]) -> None:
    copy, env = generated
    for path in ("apps/invoices/models.py", "apps/invoices/effects.py", "apps/invoices/api/views.py"):
        assert (copy / path).is_file(), path
    assert (copy / "apps/invoices/migrations/0001_initial.py").is_file()
    assert '    "apps.invoices",\n]' in (copy / SETTINGS).read_text()
    assert 'features = ["invoices"]' in (copy / STANDIN_USERS).read_text()
    assert (copy / "docs/invoices.md").read_text().startswith("# Invoices\n")
    _run(copy, sys.executable, "manage.py", "makemigrations", "--check", "--dry-run", env=env)


@pytest.mark.process
def test_the_generated_tests_pass_at_once(generated: tuple[Path, dict[str, str]]) -> None:
    copy, env = generated
    pytest_command = (str(copy / ".venv/bin/pytest"), "tests/invoices", "-q", "-p", "no:cacheprovider")
    result = _run(copy, *pytest_command, env=env)
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout
    assert "failed" not in result.stdout
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        # And on this run's real services, in a test database of its own (the suite's is in use).
        services = {
            name: os.environ[name] for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL") if name in os.environ
        }
        real = {
            **env,
            **services,
            "TEST_REQUIRE_SERVICES": "1",
            "DATABASE_TEST_NAME": f"test_startfeature_{uuid.uuid4().hex[:8]}",
        }
        result = _run(copy, *pytest_command, env=real)
        assert " passed" in result.stdout
        assert "skipped" not in result.stdout


@pytest.mark.process
def test_the_generated_api_serves_a_create_and_a_list_with_a_stand_in_token(
    generated: tuple[Path, dict[str, str]],
) -> None:
    copy, env = generated
    _run(copy, sys.executable, "manage.py", "migrate", "--noinput", env=env)
    standin_port, port = free_port(), free_port()
    standin = [sys.executable, "-m", "devtools.accent_auth_standin", "--port", str(standin_port)]
    with running_server(standin, port=standin_port, env=env, ready_path="/0.1/status", cwd=copy) as auth:
        served = {**env, "ACCENT_AUTH_URL": f"{auth}/0.1"}
        server = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        with running_server(server, port=port, env=served, ready_path="/health/live", cwd=copy) as base:
            token = httpx.post(f"{auth}/0.1/token", auth=("alice", "alice"), json={}, timeout=30).json()["data"][
                "token"
            ]
            headers = {"X-Auth-Token": token}
            created = httpx.post(f"{base}/api/v1/invoices/", json={"name": "INV-1"}, headers=headers, timeout=30)
            assert created.status_code == 201, created.text
            listed = httpx.get(f"{base}/api/v1/invoices/", headers=headers, timeout=30)
            assert listed.status_code == 200, listed.text
            assert [row["name"] for row in listed.json()["results"]] == ["INV-1"]
            schema = httpx.get(f"{base}/api/schema/", headers={"Accept": "application/json"}, timeout=30).json()
            assert "/api/v1/invoices/" in schema["paths"]


@pytest.mark.process
def test_the_generated_code_passes_the_static_checks(generated: tuple[Path, dict[str, str]]) -> None:
    copy, env = generated
    tools = copy / ".venv" / "bin"
    paths = ("apps/invoices", "tests/invoices")
    _run(copy, str(tools / "ruff"), "check", *paths, env=env)
    _run(copy, str(tools / "ruff"), "format", "--check", *paths, env=env)
    _run(copy, str(tools / "mypy"), *paths, env=env)
    _run(copy, str(tools / "lint-imports"), env=env)


# --- refusals: one line, nothing written -------------------------------------------------------------


def _snapshot() -> dict[str, object]:
    return {
        "settings": (ROOT / SETTINGS).read_text(),
        "users": (ROOT / STANDIN_USERS).read_text(),
        "apps": sorted(os.listdir(ROOT / "apps")),
        "tests": sorted(os.listdir(ROOT / "tests")),
        "docs": sorted(os.listdir(ROOT / "docs")),
        "var": sorted(os.listdir(ROOT / "var")),
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["Invoices"], "'Invoices' is not a valid feature name"),
        (["my-invoices"], "is not a valid feature name"),
        (["2invoices"], "is not a valid feature name"),
        (["class"], "is not a valid feature name"),
        (["documents"], "A feature named 'documents' exists already (apps/documents)"),
        (["health"], "A feature named 'health' exists already (apps/health)"),
        (["json"], "clashes with the Python module 'json'"),
        (["django"], "clashes with the Python module 'django'"),
        (["invoices", "--model", "invoice"], "'invoice' is not a valid model class name"),
    ],
)
def test_a_bad_name_is_one_line_and_writes_nothing(arguments: list[str], message: str) -> None:
    before = _snapshot()
    with pytest.raises(CommandError) as refused:
        call_command("startfeature", *arguments)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert _snapshot() == before


@pytest.mark.process
def test_a_failure_after_rendering_takes_back_everything_written(tmp_path: Path) -> None:
    """A settings file whose FEATURE_APPS the command cannot append to: one line, and no file of the feature stays."""
    copy = copy_checkout(tmp_path / "service")
    settings_text = (copy / SETTINGS).read_text()
    one_line = 'FEATURE_APPS = ["apps.documents"]'
    reformatted = settings_text.replace('FEATURE_APPS = [\n    "apps.documents",\n]', one_line)
    assert reformatted != settings_text
    (copy / SETTINGS).write_text(reformatted)
    users_text = (copy / STANDIN_USERS).read_text()
    env = clean_env()
    env.pop("TEST_REQUIRE_SERVICES", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "startfeature", "invoices"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: project/settings.py has no `FEATURE_APPS = [` list to append to."
    ]
    for written in ("apps/invoices", "tests/invoices", "docs/invoices.md"):
        assert not (copy / written).exists(), written
    assert (copy / SETTINGS).read_text() == reformatted
    assert (copy / STANDIN_USERS).read_text() == users_text
    assert not list((copy / "var").glob("startfeature_*")), "the scratch directory is removed"
