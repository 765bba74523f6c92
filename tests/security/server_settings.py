"""Settings of the server processes the security tests start: the test settings plus tests/security/urls.py."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.security.urls"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {f"drf-{n}": "25/minute" for n in range(5)},  # type: ignore[dict-item]
}
