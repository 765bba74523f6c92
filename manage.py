#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line  # noqa: PLC0415

    from project.environment import exit_on_configuration_error  # noqa: PLC0415

    # Settings and each app's ready() (which checks what only that app understands) load
    # in here: a bad environment value is one clear line, not a traceback.
    with exit_on_configuration_error():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
