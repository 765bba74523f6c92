"""Write the GraphQL schema (project/graphql.py) to `schema.graphql` at the repository root, or check it.

    python scripts/graphql_schema.py          # make graphql-schema: regenerate after changing a GraphQL type
    python scripts/graphql_schema.py --check  # exit 1 when the checked-in file is not the live schema

The file is what clients generate code from and what a review diffs; tests/project/test_graphql_schema.py
fails CI when it is stale.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schema.graphql"


def schema_text() -> str:
    """The live schema in SDL, as the file holds it (one final newline)."""
    from project.graphql import schema  # noqa: PLC0415 - after django.setup()

    return f"{str(schema).rstrip()}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    arguments = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django  # noqa: PLC0415 - the script sets the settings module first

    django.setup()
    live = schema_text()
    if arguments.check:
        if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text() != live:
            print(f"{SCHEMA_FILE.name} is stale: run `make graphql-schema` and commit it.", file=sys.stderr)
            return 1
        return 0
    SCHEMA_FILE.write_text(live)
    print(f"wrote {SCHEMA_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
