#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.conf import settings  # noqa: PLC0415 - after DJANGO_SETTINGS_MODULE is set
    from django.core.management import execute_from_command_line  # noqa: PLC0415

    from project.environment import exit_on_configuration_error  # noqa: PLC0415

    with exit_on_configuration_error():
        # Load settings now, so a bad environment value is one clear line, not a traceback.
        settings.INSTALLED_APPS  # noqa: B018
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
