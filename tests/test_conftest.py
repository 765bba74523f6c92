"""The `process` marker that `make test-fast` leaves out: put on by reading the tests, enforced while they run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import _reaches_a_process
from tests.processes import ROOT, manage


def _pure(value: int) -> int:
    return value + 1


def _through_a_helper() -> None:
    manage("check", env={})  # tests.processes.manage -> subprocess.run


def _with_a_local_import() -> None:
    from playwright.sync_api import sync_playwright

    sync_playwright()


class _Server:
    def start(self) -> None:
        subprocess.Popen([sys.executable, "-c", "pass"])


def test_the_reading_follows_helpers_classes_and_local_imports() -> None:
    assert not _reaches_a_process(_pure, set())
    assert _reaches_a_process(_through_a_helper, set())
    assert _reaches_a_process(_with_a_local_import, set())
    assert _reaches_a_process(_Server, set())
    assert _reaches_a_process(lambda: _Server().start(), set())


@pytest.fixture
def started_server() -> _Server:
    server = _Server()
    server.start()
    return server


def test_a_test_whose_fixture_starts_a_process_is_marked(
    started_server: _Server, request: pytest.FixtureRequest
) -> None:
    assert request.node.get_closest_marker("process") is not None


def test_a_test_that_starts_nothing_is_not_marked(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("process") is None


GUARDED = """
import subprocess
import sys

import pytest


def test_starts_a_process_unmarked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.mark.process
def test_starts_a_process_marked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_starts_nothing():
    pass
"""


def _run_guarded(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    # Outside `tests`, the reading sees nothing: only the wrapped process starts can catch the unmarked test.
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems, pytest_runtest_makereport, pytest_runtest_protocol\n"
    )
    (tmp_path / "test_guarded.py").write_text(textwrap.dedent(GUARDED))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django", *arguments],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_unmarked_test_that_starts_a_process_fails_and_says_how_to_fix_it(tmp_path: Path) -> None:
    result = _run_guarded(tmp_path, "--override-ini", "markers=process: starts an OS process")
    assert result.returncode == 1, result.stdout
    assert "1 failed, 2 passed" in result.stdout
    assert "test_starts_a_process_unmarked started an OS process but is not marked `process`" in result.stdout
    assert "add @pytest.mark.process" in result.stdout


def test_the_fast_selection_leaves_the_marked_test_out(tmp_path: Path) -> None:
    result = _run_guarded(tmp_path, "-m", "not process", "-k", "not unmarked")
    assert result.returncode == 0, result.stdout
    assert "1 passed, 2 deselected" in result.stdout
