"""`python -m devtools.accent_auth_standin`: serve the stand-in Accent-Auth in the foreground.

    python -m devtools.accent_auth_standin                          # 127.0.0.1:9497, users.toml
    python -m devtools.accent_auth_standin --port 9600 --config my-users.toml

Then run the service with ACCENT_AUTH_URL=http://127.0.0.1:9497/0.1 (`make run` does both).
"""

from __future__ import annotations

import argparse
import sys

from devtools.accent_auth_standin.config import CONFIG_VARIABLE, ConfigError, load_config
from devtools.accent_auth_standin.server import StandInAccentAuth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.accent_auth_standin", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9497)
    parser.add_argument(
        "--config", default=None, help=f"a users TOML file (default: ${CONFIG_VARIABLE}, else users.toml)"
    )
    options = parser.parse_args(argv)
    try:
        config = load_config(options.config)
    except ConfigError as error:
        parser.exit(2, f"{parser.prog}: {error}\n")
    server = StandInAccentAuth(config, host=options.host, port=options.port)
    users = ", ".join(f"{user.username}:{user.password}" for user in config.users)
    print(f"Stand-in Accent-Auth on http://{options.host}:{server.port}/0.1 (users {users})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
