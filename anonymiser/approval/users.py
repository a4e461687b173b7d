"""Review app users: a name, a role and an argon2id password hash, in one owner-only file.

``ROOT/.anonymiser/review-users.json`` (0600) holds no password, only its hash (argon2-cffi's
defaults: argon2id, RFC 9106 low-memory profile). Verifying an unknown name costs the same as a
known one, so response times do not tell which names exist.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from anonymiser.approval.errors import ReviewError
from anonymiser.errors import SettingsError
from anonymiser.files import write_text_atomic

if TYPE_CHECKING:
    from argon2 import PasswordHasher

USERS_FILE = "review-users.json"
MIN_PASSWORD = 10
NAME_PATTERN = re.compile(r"^[\w.@-]{1,64}$")


class Role(StrEnum):
    APPROVER = "approver"  # may approve, reject, blur more, mark take-downs done
    VIEWER = "viewer"  # may look, confirm nothing


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    created: str

    @property
    def may_approve(self) -> bool:
        return self.role is Role.APPROVER


class UserStore:
    """The users of one watched folder's review app."""

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        from argon2 import PasswordHasher

        self.path = path
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._dummy: str | None = None

    @classmethod
    def for_root(cls, root: str | Path, hasher: PasswordHasher | None = None) -> UserStore:
        """The store of the watched folder ``root`` (in its ``.anonymiser/`` folder)."""
        from anonymiser.watch.layout import Layout

        return cls(Layout.at(root).state / USERS_FILE, hasher)

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise ReviewError(f"{self.path}: cannot read users: {err.strerror or err}") from None
        try:
            data = json.loads(text)
            users = data["users"]
            if not isinstance(users, dict):
                raise TypeError("users is not a mapping")
        except (ValueError, KeyError, TypeError) as err:
            raise ReviewError(f"{self.path}: not a users file: {err}") from None
        return users

    def users(self) -> list[User]:
        return [
            User(name, Role(u["role"]), u.get("created", "")) for name, u in self._load().items()
        ]

    def get(self, name: str) -> User | None:
        u = self._load().get(name)
        return None if u is None else User(name, Role(u["role"]), u.get("created", ""))

    def add(self, name: str, password: str, role: Role | str = Role.VIEWER) -> User:
        """Add a user, or set a new password and role for an existing one."""
        if not NAME_PATTERN.match(name):
            raise SettingsError(
                f"{name!r}: a user name is 1-64 letters, digits, '.', '_', '-' or '@'"
            )
        if len(password) < MIN_PASSWORD:
            raise SettingsError(f"password too short: use at least {MIN_PASSWORD} characters")
        try:
            role = Role(role)
        except ValueError:
            raise SettingsError(f"role {role!r}: choose approver or viewer") from None
        users = self._load()
        created = users.get(name, {}).get("created") or datetime.now(UTC).isoformat(
            timespec="seconds"
        )
        users[name] = {
            "role": str(role),
            "hash": self._hasher.hash(password),
            "created": created,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_text_atomic(
            self.path,
            json.dumps({"version": 1, "users": users}, indent=1),
            mode=0o600,
            what="users",
        )
        return User(name, role, created)

    def verify(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else None (same work for unknown names)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        hasher = self._hasher
        u = self._load().get(name)
        if u is None:
            if self._dummy is None:
                self._dummy = hasher.hash("not a password of anyone's")
            stored = self._dummy
        else:
            stored = u["hash"]
        try:
            hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if u is None:
            return None
        return User(name, Role(u["role"]), u.get("created", ""))
