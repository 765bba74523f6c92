"""The build context the Dockerfile sends: no secrets, no local state or caches, every file the image needs.

Docker's own rules (moby's patternmatcher), written out here: a pattern is matched from
the context root against the whole slash-separated path; `*` and `?` never cross a `/`,
`**` spans any number of directories (also none); a path is excluded when it or one of
its parent directories matches; the last matching pattern decides, `!` bringing a path back.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
from pathlib import Path

import pytest

from tests.processes import ROOT

Pattern = tuple[re.Pattern[str], bool]  # (regex, is an exception `!...`)


def _regex(pattern: str) -> re.Pattern[str]:
    out, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                index += 1  # `**/` is `**`
            out += ".*" if index >= len(pattern) else "(.*/)?"
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", index + 1)
            out += "[" + pattern[index + 1 : end].replace("\\", "\\\\") + "]"
            index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out += re.escape(pattern[index])
        else:
            out += re.escape(char)
        index += 1
    return re.compile(f"^{out}$")


def parse_dockerignore(text: str) -> list[Pattern]:
    patterns: list[Pattern] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        cleaned = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
        patterns.append((_regex(cleaned), exception))
    return patterns


def excluded(path: str, patterns: list[Pattern]) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: depth + 1]) for depth in range(len(parts))]  # parents, then the path
    verdict = False
    for regex, exception in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            verdict = not exception
    return verdict


def build_context(root: Path, patterns: list[Pattern]) -> set[str]:
    """Every file `docker build` sends from `root`."""
    files = (path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())
    return {path for path in files if not excluded(path, patterns)}


def test_the_matcher_follows_dockers_documented_examples() -> None:
    # The examples of Docker's .dockerignore reference, with the outcome it documents.
    patterns = parse_dockerignore("# comment\n*/temp*\n*/*/temp*\ntemp?\n")
    assert excluded("somedir/temporary.txt", patterns)
    assert excluded("somedir/temp", patterns)
    assert excluded("somedir/subdir/temporary.txt", patterns)
    assert excluded("tempa", patterns)
    assert excluded("tempb/file", patterns)
    assert not excluded("temp", patterns)
    assert not excluded("a/b/c/temp", patterns)
    assert excluded("x/y/file.go", parse_dockerignore("**/*.go"))
    assert excluded("file.go", parse_dockerignore("**/*.go"))
    patterns = parse_dockerignore("*.md\n!README*.md\nREADME-secret.md\n")
    assert excluded("CHANGES.md", patterns)
    assert not excluded("README-public.md", patterns)
    assert excluded("README-secret.md", patterns)
    assert not excluded("docs/guide.md", patterns), "no `**`: only at the root"
    assert excluded("a/b", parse_dockerignore("/a/./b/../b")), "patterns are cleaned, the leading / dropped"


LOCAL_ONLY = [
    ".git/config",
    ".git/objects/ab/cdef",
    ".venv/bin/python",
    ".tools/bin/uv",
    ".env",
    ".env.production",
    "deploy/.env",
    "deploy/k8s/.env",  # the operator's filled-in secrets (deploy/k8s/secrets.env.example)
    "var/db.sqlite3",
    "var/media/upload.pdf",
    ".pytest_cache/v/cache/lastfailed",
    ".mypy_cache/3.11/apps.json",
    ".ruff_cache/0.1/123",
    ".hypothesis/examples/1",
    "apps/core/__pycache__/models.cpython-311.pyc",
    "__pycache__/conftest.cpython-311.pyc",
    "apps/core/stray.pyc",
    "htmlcov/index.html",
    ".coverage",
    ".coverage.host.1234.567",
    "node_modules/left-pad/index.js",
    "apps/core/static/node_modules/x/y.js",
]


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        pytest.fail(f"git ls-files failed: {listed.stderr}")
    return [path for path in listed.stdout.splitlines() if (ROOT / path).is_file()]


# Tracked, but for development and tests only: the stand-in Accent-Auth is no part of the product.
DEVELOPMENT_ONLY = "devtools/"
STAND_IN_DEFINITION = re.compile(r"^class StandInAccentAuth\b", re.MULTILINE)


def test_the_image_gets_every_tracked_file_and_no_secret_state_or_cache(tmp_path: Path) -> None:
    patterns = parse_dockerignore((ROOT / ".dockerignore").read_text())
    tracked = _tracked_files()
    assert {"pyproject.toml", "uv.lock", "manage.py", ".env.example"} <= set(tracked)
    for path in [*tracked, *LOCAL_ONLY]:  # the checkout as a developer's machine has it
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")

    context = build_context(tmp_path, patterns)

    assert sorted(set(LOCAL_ONLY) & context) == [], "secrets, local state and caches stay out of the image"
    product = {path for path in tracked if not path.startswith(DEVELOPMENT_ONLY)}
    assert sorted(product - context) == [], "every file of the project goes in (`COPY . .`)"


def test_the_image_ships_no_accent_auth_stand_in() -> None:
    context = build_context(ROOT, parse_dockerignore((ROOT / ".dockerignore").read_text()))
    tracked = set(_tracked_files())
    assert any(path.startswith(DEVELOPMENT_ONLY) for path in tracked)
    assert sorted(path for path in context if path.startswith(DEVELOPMENT_ONLY)) == []
    servers = [
        path
        for path in context & tracked
        if path.endswith(".py") and STAND_IN_DEFINITION.search((ROOT / path).read_text())
    ]
    assert servers == [], "the stand-in server's code is in the image"
