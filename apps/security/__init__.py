"""Security: atomic rate limits (per IP, actor, scope), body size limit, security headers.

The pieces are wired in `project/settings.py` (MIDDLEWARE, REST_FRAMEWORK throttles,
CONTENT_SECURITY_POLICY, CORS_*); see docs/security.md. This package is imported by the
settings (to validate rates), so it imports nothing heavy itself.
"""

from apps.security.rates import Rate, parse_rate, parse_scopes

__all__ = ["Rate", "parse_rate", "parse_scopes"]
