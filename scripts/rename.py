"""Rename the service: `make rename NAME=billing` (from any current name; twice works).

The current name is `DEFAULT_NAME` in project/naming.py, the one source every derived
name (queues, exchanges, cache prefix, metric prefix, OpenAPI title, application_name)
is read from. This rewrites it there and wherever a file outside Python names the
service: the distribution name (pyproject.toml and uv.lock's own entry), the compose
project and database, .env.example, the README title, and the Kubernetes names in
deploy/k8s/ (object name prefix, `app.kubernetes.io/name`, image, namespace, Secret, host
names), where an underscore becomes a hyphen (`billing_core` -> `billing-core`: Kubernetes
names are DNS labels; `ServiceNames.kubernetes_name`). The Python package `project/`
keeps its name on purpose: every service built from the template has the same layout.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
NAMING = "project/naming.py"
CURRENT_NAME = re.compile(r'^DEFAULT_NAME = "([a-z][a-z0-9_]*)"$', re.MULTILINE)

Rewrite = Callable[[str, str, str], str]
UV_LOCK = r'\1"{new}"\2'  # uv.lock's own entry: the name only, version and source kept


def _title(name: str) -> str:
    return name.replace("_", " ").title()


def _kubernetes(name: str) -> str:
    return name.replace("_", "-")


def _sub(pattern: str, replacement: str, *, count: int = 0, expected: int | None = None) -> Rewrite:
    """A rewrite of `pattern` (`{old}` is the old name, `{kube_old}` its Kubernetes form, escaped) by
    `replacement` (`{new}`, `{title}`, `{kube}`, backrefs)."""

    def rewrite(text: str, old: str, new: str) -> str:
        escaped = pattern.replace("{old}", re.escape(old)).replace("{kube_old}", re.escape(_kubernetes(old)))
        compiled = re.compile(escaped, re.MULTILINE)
        filled = replacement.replace("{new}", new).replace("{title}", _title(new)).replace("{kube}", _kubernetes(new))
        result, found = compiled.subn(filled, text, count)
        if not found or (expected is not None and found != expected):
            raise ValueError(f"expected {compiled.pattern!r}; was the file edited by hand?")
        return result

    return rewrite


# In deploy/k8s/, the name as a YAML value or a name's first word: `namePrefix: <name>-`, `name: <name>`,
# `{name: <name>-secrets}`, `namespace: <name>`, `<name>.example.com`; never inside another word.
KUBERNETES_NAME = _sub(r"(?<=[\s{/,]){kube_old}(?=-secrets\b|-$|\.example\.com\b|$)", "{kube}")
KUBERNETES_FILES = [
    "deploy/k8s/base/kustomization.yaml",
    "deploy/k8s/base/web.yaml",
    "deploy/k8s/base/realtime.yaml",
    "deploy/k8s/base/worker.yaml",
    "deploy/k8s/base/beat.yaml",
    "deploy/k8s/base/relay.yaml",
    "deploy/k8s/base/migrate.yaml",
    "deploy/k8s/overlays/production/kustomization.yaml",
    "deploy/k8s/secrets.env.example",
]

# (file, rewrite) — each must match, so a drifted template fails loudly instead of half-renaming.
REWRITES: list[tuple[str, Rewrite]] = [
    (NAMING, _sub(r'^DEFAULT_NAME = "{old}"$', 'DEFAULT_NAME = "{new}"')),
    ("pyproject.toml", _sub(r'^name = "{old}"$', 'name = "{new}"', count=1)),
    (
        "uv.lock",
        _sub(r'^(\[\[package\]\]\nname = )"{old}"(\nversion = .*\nsource = \{ virtual = "\." \})$', r'\1"{new}"\2'),
    ),
    (".env.example", _sub(r"^SERVICE_NAME={old}$", "SERVICE_NAME={new}")),
    (".env.example", _sub(r"^SERVICE_TITLE=.* API$", "SERVICE_TITLE={title} API")),
    ("docker-compose.yml", _sub(r"^name: {old}$", "name: {new}")),
    (
        "docker-compose.yml",
        _sub(r"postgres://{old}:{old}@postgres:5432/{old}\b", "postgres://{new}:{new}@postgres:5432/{new}"),
    ),
    ("docker-compose.yml", _sub(r"^(\s+POSTGRES_(?:USER|PASSWORD|DB)): {old}$", r"\1: {new}", expected=3)),
    ("docker-compose.yml", _sub(r"pg_isready -U {old}\b", "pg_isready -U {new}")),
    ("README.md", _sub(r"\A# .*$", "# {title}", count=1)),
    *((path, KUBERNETES_NAME) for path in KUBERNETES_FILES),
]


def current_name(root: Path) -> str:
    match = CURRENT_NAME.search((root / NAMING).read_text())
    if match is None:
        raise ValueError(f"{NAMING}: no DEFAULT_NAME line to read the current name from")
    return match.group(1)


def rename(root: Path, name: str) -> list[str]:
    """Rename the service under `root` from its current name to `name`; returns the files changed.

    All or nothing: every rewrite is computed before the first file is written.
    """
    if not NAME_PATTERN.match(name):
        raise ValueError(f"NAME must be lowercase letters, digits and underscores, starting with a letter: {name!r}")
    old = current_name(root)
    pending: dict[Path, str] = {}
    for relative, rewrite in REWRITES:
        path = root / relative
        text = pending.get(path, path.read_text())
        try:
            pending[path] = rewrite(text, old, name)
        except ValueError as error:
            raise ValueError(f"{relative}: {error}") from None
    for path, text in pending.items():
        path.write_text(text)
    return sorted(str(path.relative_to(root)) for path in pending)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("name", help="the new service name, e.g. billing")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        changed = rename(args.root, args.name)
    except ValueError as error:
        print(f"rename: {error}", file=sys.stderr)
        return 2
    print(f"Renamed the service to {args.name!r} in: {', '.join(changed)}")
    print("Next: review with git diff; `uv sync` re-sorts uv.lock under the new name.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
