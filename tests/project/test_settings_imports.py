"""Settings import no app code: `import project.settings` loads `project` modules and libraries only.

Every process (web, worker, beat, `manage.py`) reads the settings before any app loads; an
app module imported from them drags in its own imports (DRF, the cache layer, ...) and runs
before the app registry exists. Apps are named in settings by dotted path instead.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.docs_snippets import run_blocks
from tests.processes import ROOT, clean_env

# What the settings may load of ours: the package (with its Celery app), the environment reader, the
# ASGI server's bound (the cheap half of it: not the worker class),
# the backing-service choices and the service's names. Nothing under `apps`.
SETTINGS_MODULES = {
    "project",
    "project.asgi_server",
    "project.backends",
    "project.celery",
    "project.environment",
    "project.naming",
    "project.settings",
}


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(DJANGO_SETTINGS_MODULE="project.settings")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )


def _ours(names: list[str]) -> set[str]:
    return {name for name in names if name.split(".")[0] in {"apps", "project", "tests"}}


def test_importtime_of_the_settings_shows_no_app_module() -> None:
    result = _python("-X", "importtime", "-c", "import project.settings")
    # Each line: "import time: <self us> | <cumulative us> | <indented module name>".
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    imported = [line.rsplit("|", 1)[1].strip() for line in lines]
    assert "project.settings" in imported
    assert [name for name in imported if name == "apps" or name.startswith("apps.")] == []
    assert _ours(imported) == SETTINGS_MODULES


def test_the_settings_leave_only_project_modules_loaded() -> None:
    result = _python("-c", "import json, sys, project.settings; print(json.dumps(sorted(sys.modules)))")
    assert _ours(json.loads(result.stdout)) == SETTINGS_MODULES


@pytest.mark.process  # the example starts Python in a subprocess
def test_the_architecture_docs_example_runs() -> None:
    run_blocks("architecture.md")
