"""Accent-Auth: token authentication, wildcard ACLs, tenancy (its stand-in server lives in devtools/).

Import the pieces from their modules (`apps.accent_auth.acl`, `.authentication`,
`.permissions`, `.services`); this package only names them. See docs/accent-auth.md.
"""

__all__ = ["acl", "authentication", "client", "permissions", "services", "session_acl", "token_cache"]
