"""The stand-in's users, passwords, ACLs and tenant tree: read from a TOML file, checked whole.

The file is `users.toml` beside this module unless a path is given (the `--config` flag)
or `ACCENT_AUTH_STANDIN_CONFIG` names one. A file that is not what the stand-in needs
raises `ConfigError` naming the entry and the field, before any server starts: a
half-understood world would answer logins with surprises instead.
"""

from __future__ import annotations

import os
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIG_VARIABLE",
    "DEFAULT_CONFIG_PATH",
    "FEATURE",
    "ConfigError",
    "StandInConfig",
    "Tenant",
    "User",
    "load_config",
]

CONFIG_VARIABLE = "ACCENT_AUTH_STANDIN_CONFIG"
DEFAULT_CONFIG_PATH = Path(__file__).resolve().with_name("users.toml")
FEATURE = "{feature}"  # in a `feature_acl` pattern: the feature app's name


class ConfigError(ValueError):
    """The config file cannot describe a stand-in world; the message says where and why."""


@dataclass(frozen=True)
class Tenant:
    uuid: str
    name: str
    parent_uuid: str | None


@dataclass(frozen=True)
class User:
    username: str
    password: str
    uuid: str
    tenant_uuid: str
    acl: tuple[str, ...]


@dataclass(frozen=True)
class StandInConfig:
    tenants: tuple[Tenant, ...]
    users: tuple[User, ...]
    # The feature apps (`features`), and what each user may do in every one (`feature_acl`, `{feature}` its name).
    features: tuple[str, ...] = ()
    feature_acl: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def acl_of(self, user: User) -> tuple[str, ...]:
        """The user's own ACL, then its `feature_acl` patterns for each feature."""
        templates = self.feature_acl.get(user.username, ())
        return (*user.acl, *(pattern.replace(FEATURE, name) for name in self.features for pattern in templates))

    def user(self, username: str) -> User | None:
        return next((user for user in self.users if user.username == username), None)

    def is_within(self, tenant_uuid: str, ancestor_uuid: str) -> bool:
        """`tenant_uuid` is `ancestor_uuid` or one of its sub-tenants, at any depth."""
        parents = {tenant.uuid: tenant.parent_uuid for tenant in self.tenants}
        current: str | None = tenant_uuid
        while current is not None:  # no cycle: load_config refuses them
            if current == ancestor_uuid:
                return True
            current = parents.get(current)
        return False


def load_config(path: str | Path | None = None) -> StandInConfig:
    """The config at `path`, else at `$ACCENT_AUTH_STANDIN_CONFIG`, else the packaged `users.toml`."""
    chosen = Path(path or os.environ.get(CONFIG_VARIABLE) or DEFAULT_CONFIG_PATH)
    try:
        document = tomllib.loads(chosen.read_text())
    except OSError as error:
        raise ConfigError(f"{chosen}: cannot read it ({error.strerror})") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{chosen}: not TOML ({error})") from error
    return _parse(document, source=str(chosen))


def _parse(document: Mapping[str, Any], *, source: str) -> StandInConfig:
    tenants = tuple(
        _tenant(entry, f"{source}: tenants[{index}]")
        for index, entry in enumerate(_tables(document, "tenants", source))
    )
    users = tuple(
        _user(entry, f"{source}: users[{index}]") for index, entry in enumerate(_tables(document, "users", source))
    )
    known = _unique([tenant.uuid for tenant in tenants], f"{source}: tenant uuid")
    _unique([user.username for user in users], f"{source}: username")
    for index, tenant in enumerate(tenants):
        if tenant.parent_uuid is not None and tenant.parent_uuid not in known:
            raise ConfigError(f"{source}: tenants[{index}].parent_uuid {tenant.parent_uuid} is no tenant of the file")
    for index, user in enumerate(users):
        if user.tenant_uuid not in known:
            raise ConfigError(f"{source}: users[{index}].tenant_uuid {user.tenant_uuid} is no tenant of the file")
    _refuse_cycles(tenants, source)
    features = _features(document, source)
    feature_acl = _feature_acl(document, source, {user.username for user in users})
    return StandInConfig(tenants=tenants, users=users, features=features, feature_acl=feature_acl)


def _features(document: Mapping[str, Any], source: str) -> tuple[str, ...]:
    names = document.get("features", [])
    if not isinstance(names, list) or not all(isinstance(name, str) and name.isidentifier() for name in names):
        raise ConfigError(f"{source}: `features` must be an array of app names")
    _unique(names, f"{source}: feature")
    return tuple(names)


def _feature_acl(document: Mapping[str, Any], source: str, usernames: set[str]) -> dict[str, tuple[str, ...]]:
    table = document.get("feature_acl", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: `feature_acl` must be a table of username = [patterns]")
    acl: dict[str, tuple[str, ...]] = {}
    for username, patterns in table.items():
        where = f"{source}: feature_acl.{username}"
        if username not in usernames:
            raise ConfigError(f"{where} names no user of the file")
        if not isinstance(patterns, list) or not all(isinstance(p, str) and FEATURE in p for p in patterns):
            raise ConfigError(f"{where} must be an array of ACL patterns each holding {FEATURE}")
        acl[username] = tuple(patterns)
    return acl


def _tables(document: Mapping[str, Any], key: str, source: str) -> list[Mapping[str, Any]]:
    entries = document.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ConfigError(f"{source}: `{key}` must be an array of tables ([[{key}]])")
    return entries


def _tenant(entry: Mapping[str, Any], where: str) -> Tenant:
    parent = entry.get("parent_uuid")
    return Tenant(
        uuid=_uuid(entry, "uuid", where),
        name=_string(entry, "name", where),
        parent_uuid=None if parent is None else _uuid(entry, "parent_uuid", where),
    )


def _user(entry: Mapping[str, Any], where: str) -> User:
    acl = entry.get("acl", [])
    if not isinstance(acl, list) or not all(isinstance(pattern, str) and pattern for pattern in acl):
        raise ConfigError(f"{where}.acl must be an array of non-empty ACL patterns")
    return User(
        username=_string(entry, "username", where),
        password=_string(entry, "password", where),
        uuid=_uuid(entry, "uuid", where),
        tenant_uuid=_uuid(entry, "tenant_uuid", where),
        acl=tuple(acl),
    )


def _string(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key} must be a non-empty string")
    return value


def _uuid(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = _string(entry, key, where)
    try:
        return str(uuid.UUID(value))  # the canonical spelling: tenants are compared as strings
    except ValueError as error:
        raise ConfigError(f"{where}.{key} must be a UUID, not {value!r}") from error


def _unique(values: list[str], what: str) -> set[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"{what} {value} appears twice")
        seen.add(value)
    return seen


def _refuse_cycles(tenants: tuple[Tenant, ...], source: str) -> None:
    parents = {tenant.uuid: tenant.parent_uuid for tenant in tenants}
    for tenant in tenants:
        path: list[str] = []
        current: str | None = tenant.uuid
        while current is not None:
            if current in path:
                raise ConfigError(f"{source}: tenants form a cycle: {' -> '.join([*path, current])}")
            path.append(current)
            current = parents.get(current)
