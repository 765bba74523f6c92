"""Test settings: the project's, plus a test-only app with models that exercise every mixin."""

from project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
