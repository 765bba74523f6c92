"""`python manage.py startfeature NAME`: a working feature app, rendered from devtools/feature_template/.

Django's own `startapp --template` machinery renders the template tree (`apps/app_name/`,
`tests/app_name/`, `docs/app_name.md`) into a scratch directory; the command then moves it
into the checkout, registers the app (`FEATURE_APPS` in project/settings.py, which also routes
its API; the stand-in Accent-Auth's `features`, which gives the dev users its ACLs), formats the
code with ruff and writes its first migration with `makemigrations`. A bad NAME is one line of
CommandError before anything is written; a failure later takes back everything written.

It lives in apps.core (a management command needs an installed app) but reads its template from
devtools/, which the image does not ship: generating code is work for a checkout, not a server.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.templates import TemplateCommand

__all__ = ["Command"]

ROOT: Path = settings.BASE_DIR
TEMPLATE = ROOT / "devtools" / "feature_template"
SETTINGS_FILE = ROOT / "project" / "settings.py"
STANDIN_USERS = ROOT / "devtools" / "accent_auth_standin" / "users.toml"
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_FEATURE_APPS = re.compile(r"^FEATURE_APPS = \[\n(?P<body>(?:    .*\n)*?)\]\n", re.MULTILINE)
_FEATURES = re.compile(r"^features = \[(?P<body>[^\]\n]*)\]$", re.MULTILINE)


class Command(TemplateCommand):
    help = "Create a feature app (model, services, selectors, API, admin, tests, doc) from devtools/feature_template."
    # Rendered by Django's template engine: the Python files (`*.py-tpl`) and the doc stub.
    rendered_extensions = ["py", "md"]

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="The app's name: a lowercase identifier, plural (invoices).")
        parser.add_argument(
            "--model", default=None, help="The model's class name (default: NAME singular, capitalised: Invoice)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        model = options["model"] or _singular(name).title().replace("_", "")
        self._refuse(name, model)
        paths = [ROOT / "apps" / name, ROOT / "tests" / name, ROOT / "docs" / f"{name}.md"]
        originals = {path: path.read_text() for path in (SETTINGS_FILE, STANDIN_USERS)}
        with _scratch(name) as scratch:
            super().handle(
                "app",
                name,
                str(scratch),
                template=str(TEMPLATE),
                extensions=self.rendered_extensions,
                files=[],
                verbosity=options["verbosity"],
                model_name=model,
                model_lower=_snake(model),
                model_upper=_snake(model).upper(),
                model_words=_snake(model).replace("_", " "),
                plural_words=name.replace("_", " "),
                plural_title=name.replace("_", " ").capitalize(),
            )
            try:
                for path in paths:
                    shutil.move(scratch / path.relative_to(ROOT), path)
                _register(name)
                _run("ruff", "format", "--quiet", *map(str, paths[:2]))
                _run("ruff", "check", "--fix", "--quiet", *map(str, paths[:2]))
                _run(sys.executable, "manage.py", "makemigrations", name, "--verbosity", "0")
            except BaseException:
                for path in paths:
                    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
                for path, text in originals.items():
                    path.write_text(text)
                raise
        self.stdout.write(
            f"Created apps/{name}/ ({model}), tests/{name}/ and docs/{name}.md; registered in FEATURE_APPS "
            f"(served at /api/v1/{name}/) and the stand-in's features. Next: make test PYTEST_ARGS=tests/{name}"
        )

    def _refuse(self, name: str, model: str) -> None:
        """Every reason not to write anything, each as one line."""
        if not _NAME.match(name) or keyword.iskeyword(name):
            raise CommandError(f"{name!r} is not a valid feature name: use a lowercase Python identifier (invoices).")
        if not model.isidentifier() or keyword.iskeyword(model) or not model[0].isupper():
            raise CommandError(f"{model!r} is not a valid model class name (Invoice).")
        if not TEMPLATE.is_dir():
            raise CommandError(f"No feature template at {TEMPLATE}: startfeature runs in a checkout, not the image.")
        taken = [p for p in (ROOT / "apps" / name, ROOT / "tests" / name, ROOT / "docs" / f"{name}.md") if p.exists()]
        if taken or f"apps.{name}" in settings.INSTALLED_APPS:
            where = taken[0].relative_to(ROOT) if taken else "INSTALLED_APPS"
            raise CommandError(f"A feature named {name!r} exists already ({where}).")
        if importlib.util.find_spec(name) is not None or name in sys.stdlib_module_names:
            raise CommandError(f"{name!r} clashes with the Python module {name!r}: choose another name.")
        if any(label == name for label in _app_labels()):
            raise CommandError(f"{name!r} is the label of an installed app: choose another name.")


def _app_labels() -> Iterator[str]:
    return (config.label for config in apps.get_app_configs())


@contextmanager
def _scratch(name: str) -> Iterator[Path]:
    """A directory to render into, removed afterwards; an identifier (`startapp` checks the target's name)."""
    directory = Path(tempfile.mkdtemp(prefix=f"startfeature_{name}_", dir=ROOT / "var"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _register(name: str) -> None:
    """Append the app to FEATURE_APPS and to the stand-in's `features` (each file edited in one place)."""
    text = SETTINGS_FILE.read_text()
    found = _FEATURE_APPS.search(text)
    if found is None:
        raise CommandError(f"{SETTINGS_FILE.relative_to(ROOT)} has no `FEATURE_APPS = [` list to append to.")
    body = f'{found["body"]}    "apps.{name}",\n'
    SETTINGS_FILE.write_text(f"{text[: found.start('body')]}{body}{text[found.end('body') :]}")
    users = STANDIN_USERS.read_text()
    listed = _FEATURES.search(users)
    if listed is None:
        raise CommandError(f"{STANDIN_USERS.relative_to(ROOT)} has no `features = [...]` line to append to.")
    names = [*tomllib.loads(f"features = [{listed['body']}]")["features"], name]
    line = "features = [" + ", ".join(f'"{feature}"' for feature in names) + "]"
    STANDIN_USERS.write_text(f"{users[: listed.start()]}{line}{users[listed.end() :]}")


def _run(program: str, *arguments: str) -> None:
    executable = program if Path(program).is_absolute() else str(Path(sys.executable).with_name(program))
    # The checkout's own tools (ruff, manage.py) on the files this command wrote: no outside input.
    result = subprocess.run(  # noqa: S603
        [executable, *arguments], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        raise CommandError(f"{Path(program).name} {arguments[0]} failed: {output[-1] if output else result.returncode}")


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return f"{name[:-3]}y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def _snake(model: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model).lower()
