"""The project's settings with `ATOMIC_REQUESTS` on, as a team that turns it on runs them."""

from project.settings import *  # noqa: F403

DATABASES["default"]["ATOMIC_REQUESTS"] = True  # noqa: F405
