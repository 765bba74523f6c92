from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.security.rates import parse_rate

# The settings that hold one rate ("N/period" or "off"); RATE_LIMIT_SCOPES holds one per scope.
RATE_SETTINGS = ("RATE_LIMIT_PER_IP", "RATE_LIMIT_PER_ACTOR")


class SecurityConfig(AppConfig):
    name = "apps.security"
    label = "security"

    def ready(self) -> None:
        check_rate_settings()


def check_rate_settings() -> None:
    """Every configured rate parses, or start-up stops with one line naming its setting.

    Checked here rather than in settings, which import no app code: the rate grammar lives
    once, in `apps.security.rates`, and `ready()` runs before any process serves or works.
    """
    scopes: dict[str, str] = getattr(settings, "RATE_LIMIT_SCOPES", {})
    rates = [(name, getattr(settings, name, "off")) for name in RATE_SETTINGS]
    rates += [(f"RATE_LIMIT_SCOPES: {scope}", rate) for scope, rate in scopes.items()]
    for name, rate in rates:
        try:
            parse_rate(rate)
        except ValueError as error:
            raise ImproperlyConfigured(f"{name}: {error}") from None
