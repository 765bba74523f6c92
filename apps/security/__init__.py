"""Security: atomic rate limits (per IP, actor, scope), body size limit, security headers.

The pieces are wired in `project/settings.py` (MIDDLEWARE, REST_FRAMEWORK throttles,
CONTENT_SECURITY_POLICY, CORS_*); see docs/security.md. The app checks every configured
rate when it is ready (`apps.security.apps.check_rate_settings`).
"""

from apps.security.rates import Rate, parse_rate

__all__ = ["Rate", "parse_rate"]
