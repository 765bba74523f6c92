"""The import contracts bite: each planted violation breaks `lint-imports`; the real tree keeps them.

Each test copies the service's packages and `pyproject.toml` into a temporary directory, plants
one import (or one new app or module) there, and runs the real `lint-imports` on the copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.processes import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
LAYERS = "Layers: project wires the apps"
FEATURES = "Feature apps (every app not named platform or core here"
CORE_LAYERS = "Inside apps.core: HTTP rendering"
NO_TESTS = "Nothing the service ships imports the tests"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _verdicts(output: str) -> dict[str, str]:
    """Contract name prefix -> KEPT / BROKEN, from the report (names may wrap over lines)."""
    report = " ".join(output.split())
    verdicts = {}
    for name in (LAYERS, FEATURES, CORE_LAYERS, NO_TESTS):
        start = report.index(name)
        kept, broken = report.find(" KEPT", start), report.find(" BROKEN", start)
        verdicts[name] = "BROKEN" if broken != -1 and (kept == -1 or broken < kept) else "KEPT"
    return verdicts


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the contracts read: `apps`, `project`, `devtools`, the `tests` package and pyproject.toml."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "static", "templates")
    for package in ("apps", "project", "devtools"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(root: Path, module: str, line: str) -> None:
    path = root.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for package in path.relative_to(root).parents:
        if package != Path(".") and not (root / package / "__init__.py").exists():
            (root / package / "__init__.py").write_text("")
    path.write_text((path.read_text() if path.exists() else "") + f"\n{line}  # planted\n")


def _broken(root: Path) -> set[str]:
    result = _lint(root)
    verdicts = _verdicts(result.stdout)
    broken = {name for name, verdict in verdicts.items() if verdict == "BROKEN"}
    assert (result.returncode != 0) == bool(broken), result.stdout + result.stderr
    return broken


def test_the_real_tree_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(_verdicts(result.stdout).values()) == {"KEPT"}


def test_the_copy_keeps_every_contract_before_anything_is_planted(tree: Path) -> None:
    assert _broken(tree) == set()


def test_core_importing_a_platform_app_breaks_the_layers(tree: Path) -> None:
    _plant(tree, "apps.core.errors", "import apps.caching.keys")
    assert _broken(tree) == {LAYERS}


def test_a_platform_app_importing_one_above_it_breaks_the_layers(tree: Path) -> None:
    _plant(tree, "apps.caching.keys", "import apps.events.event")
    assert _broken(tree) == {LAYERS}


def test_a_layer_that_is_missing_breaks_the_layers_instead_of_checking_nothing(tree: Path) -> None:
    shutil.rmtree(tree / "apps" / "health")
    result = _lint(tree)
    assert result.returncode != 0
    assert "apps.health" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        # A new app that no contract names, importing the example feature, and the other way round.
        ("apps.reports.services", "apps.documents.models"),
        ("apps.documents.services", "apps.reports.services"),
        # Core and a platform app importing the new feature.
        ("apps.core.context", "apps.reports.services"),
        ("apps.caching.keys", "apps.reports.services"),
    ],
)
def test_an_import_of_a_feature_app_from_any_other_app_breaks_the_features_contract(
    tree: Path, importer: str, imported: str
) -> None:
    _plant(tree, "apps.reports.services", '"""A feature app the contracts do not name."""')
    _plant(tree, importer, f"import {imported}")
    assert FEATURES in _broken(tree)


def test_a_new_feature_app_using_platform_apps_and_core_keeps_every_contract(tree: Path) -> None:
    _plant(tree, "apps.reports.services", "import apps.caching\nimport apps.events\nimport apps.core.repository")
    assert _broken(tree) == set()


@pytest.mark.parametrize("data_module", ["apps.core.querysets", "apps.core.repository", "apps.core.pagination"])
def test_the_core_data_layer_importing_http_rendering_breaks_the_core_layers(tree: Path, data_module: str) -> None:
    _plant(tree, data_module, "import apps.core.api.problems")
    assert _broken(tree) == {CORE_LAYERS}


def test_a_new_core_module_without_a_layer_breaks_the_core_layers(tree: Path) -> None:
    _plant(tree, "apps.core.helpers", "import apps.core.errors")
    assert _broken(tree) == {CORE_LAYERS}


def test_shipped_code_importing_the_tests_breaks_the_contract(tree: Path) -> None:
    _plant(tree, "tests.factories", '"""Test-only."""')
    _plant(tree, "apps.documents.services", "import tests.factories")
    assert _broken(tree) == {NO_TESTS}


def test_the_architecture_docs_describe_every_contract() -> None:
    """Each contract has an `id`, and docs/architecture.md says what it forbids."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    docs = (ROOT / "docs" / "architecture.md").read_text()
    undocumented = [contract["name"] for contract in contracts if f"`{contract.get('id')}`" not in docs]
    assert undocumented == []


def test_the_architecture_walkthroughs_name_real_modules_each_once() -> None:
    """docs/architecture.md walks one read and one write; each step is a module that exists, none visited twice."""
    docs = (ROOT / "docs" / "architecture.md").read_text()
    walks = re.findall(r"```text\n(.*?)```", docs, flags=re.DOTALL)
    assert len(walks) == 2
    for walk in walks:
        modules = [line.split()[0] for line in walk.splitlines() if line.strip()]
        assert len(modules) == len(set(modules)), modules
        assert all((ROOT / module).exists() for module in modules), modules
