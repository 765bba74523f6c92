"""A stand-in Accent-Auth for tests and `make run`: a real HTTP server speaking the contract.

    server = StandInAccentAuth().start()      # users from users.toml, on a free port
    settings.ACCENT_AUTH_URL = server.url     # http://127.0.0.1:<port>/0.1
    server.stop()

`python -m devtools.accent_auth_standin` serves it in the foreground (docs/accent-auth.md).
"""

from devtools.accent_auth_standin.config import (
    CONFIG_VARIABLE,
    DEFAULT_CONFIG_PATH,
    ConfigError,
    StandInConfig,
    Tenant,
    User,
    load_config,
)
from devtools.accent_auth_standin.server import StandInAccentAuth

__all__ = [
    "CONFIG_VARIABLE",
    "DEFAULT_CONFIG",
    "DEFAULT_CONFIG_PATH",
    "MASTER_TENANT",
    "ConfigError",
    "StandInAccentAuth",
    "StandInConfig",
    "Tenant",
    "User",
    "load_config",
]

DEFAULT_CONFIG = load_config(DEFAULT_CONFIG_PATH)
# The root of the packaged tenant tree, which tests name as "a tenant above alice's".
MASTER_TENANT = next(tenant.uuid for tenant in DEFAULT_CONFIG.tenants if tenant.parent_uuid is None)
