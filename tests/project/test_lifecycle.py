"""The template's lifecycle through copier: a service generated at an older template version
takes a later one with `copier update`, keeping its local edits (docs/upgrading.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.processes import ROOT, clean_env, copy_checkout

pytestmark = pytest.mark.process

COPIER = ROOT / ".venv" / "bin" / "copier"
GIT_USER = ["-c", "user.name=Template Test", "-c", "user.email=template@example.com"]


def _git(cwd: Path, *args: str) -> str:
    return _run(cwd, "git", *GIT_USER, *args)


def _run(cwd: Path, *command: str, env: dict[str, str] | None = None) -> str:
    """Run `command` in `cwd` (the embedded default: no service URLs); its output, or the test fails with it."""
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=env or clean_env(), timeout=600, check=False
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


def _copier(cwd: Path, *args: str) -> None:
    _run(cwd, str(COPIER), *args, "--trust", "--defaults")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as a template repository with two releases: v1, then v2 with a template fix."""
    repo = copy_checkout(tmp_path_factory.mktemp("template") / "template")
    (repo / ".venv").unlink()  # a copy's link to this venv is not part of the template
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v1")
    _git(repo, "tag", "v1")
    changelog = repo / "CHANGELOG.md"
    changelog.write_text(changelog.read_text() + "\n- A template fix released in v2.\n")
    _git(repo, "commit", "-qam", "v2: a template fix")
    _git(repo, "tag", "v2")
    return repo


def test_copier_update_brings_a_later_template_version_in_and_keeps_local_edits(template: Path, tmp_path: Path) -> None:
    service = tmp_path / "billing"
    _copier(tmp_path, "copy", "--vcs-ref", "v1", "-d", "service_name=billing", str(template), str(service))
    answers = (service / ".copier-answers.yml").read_text()
    assert "_commit: v1" in answers
    assert "service_name: billing" in answers
    assert 'DEFAULT_NAME = "billing"' in (service / "project" / "naming.py").read_text(), "copy ran the rename"
    assert "A template fix released in v2." not in (service / "CHANGELOG.md").read_text()

    _git(service, "init", "-q")
    _git(service, "add", "-A")
    _git(service, "commit", "-qm", "generated from the template at v1")
    readme = service / "README.md"
    local_title = "# Billing: invoices and payments"
    readme.write_text(local_title + readme.read_text().partition("\n")[2])
    _git(service, "commit", "-qam", "local edit: our own README title")

    _copier(service, "update", "--vcs-ref", "v2")

    assert "_commit: v2" in (service / ".copier-answers.yml").read_text()
    assert "A template fix released in v2." in (service / "CHANGELOG.md").read_text(), "the template's change arrived"
    assert readme.read_text().startswith(local_title + "\n"), "the local edit is kept"
    assert 'DEFAULT_NAME = "billing"' in (service / "project" / "naming.py").read_text(), "still renamed"
    conflicted = _git(service, "diff", "--name-only", "--diff-filter=U")
    assert conflicted == "", f"unexpected conflicts: {conflicted}"

    (service / ".venv").symlink_to(ROOT / ".venv")
    env = clean_env()
    env.pop("TEST_REQUIRE_SERVICES", None)  # the copy's focused run is the embedded default
    python = str(ROOT / ".venv" / "bin" / "python")
    _run(service, python, "manage.py", "check", env=env)
    focused = ("tests/project/test_naming.py", "tests/project/test_rename.py", "tests/project/test_settings.py")
    _run(service, python, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *focused, env=env)
