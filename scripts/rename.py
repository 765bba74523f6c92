"""Rename the template for a new service: `make rename NAME=billing`.

Rewrites the service's name wherever the template says "service" as a name: the
distribution name, the SERVICE_NAME default (cache key prefix, database
application_name, log field), the OpenAPI title, the compose database, and the docs'
title. The Python package `project/` keeps its name on purpose: every service built
from the template has the same layout, so tooling and people find things in one place.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")

# (file, old text, new text template) — each must match, so a drifted template fails loudly.
REPLACEMENTS: list[tuple[str, str, str]] = [
    ("pyproject.toml", 'name = "service"', 'name = "{name}"'),
    ("project/settings.py", 'env.string("SERVICE_NAME", "service")', 'env.string("SERVICE_NAME", "{name}")'),
    ("project/settings.py", 'env.string("SERVICE_TITLE", "Service API")', 'env.string("SERVICE_TITLE", "{title} API")'),
    ("project/backends.py", 'env.string("SERVICE_NAME", "service")', 'env.string("SERVICE_NAME", "{name}")'),
    (".env.example", "SERVICE_NAME=service", "SERVICE_NAME={name}"),
    (".env.example", "SERVICE_TITLE=Service API", "SERVICE_TITLE={title} API"),
    (
        "docker-compose.yml",
        "postgres://service:service@postgres:5432/service",
        "postgres://{name}:{name}@postgres:5432/{name}",
    ),
    ("docker-compose.yml", "POSTGRES_USER: service", "POSTGRES_USER: {name}"),
    ("docker-compose.yml", "POSTGRES_PASSWORD: service", "POSTGRES_PASSWORD: {name}"),
    ("docker-compose.yml", "POSTGRES_DB: service", "POSTGRES_DB: {name}"),
    ("docker-compose.yml", "pg_isready -U service", "pg_isready -U {name}"),
    ("README.md", "# Django service template", "# {title}"),
]


def rename(root: Path, name: str) -> list[str]:
    """Apply every replacement under `root`; returns the files changed."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f"NAME must be lowercase letters, digits and underscores, starting with a letter: {name!r}")
    title = name.replace("_", " ").title()
    pending: dict[Path, str] = {}
    for relative, old, new in REPLACEMENTS:
        path = root / relative
        text = pending.get(path, path.read_text())
        if old not in text:
            raise ValueError(f"{relative}: expected to find {old!r}; was the template already renamed?")
        pending[path] = text.replace(old, new.format(name=name, title=title))
    for path, text in pending.items():
        path.write_text(text)
    return sorted(str(path.relative_to(root)) for path in pending)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the new service name, e.g. billing")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        changed = rename(args.root, args.name)
    except ValueError as error:
        print(f"rename: {error}", file=sys.stderr)
        return 2
    print(f"Renamed the template to {args.name!r} in: {', '.join(changed)}")
    print("Next: uv lock (the distribution name changed), then review with git diff.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
