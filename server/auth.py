"""API keys and roles (docs/CONTRACT.md §8).

``Authorization: Bearer <key>`` (or, for subscriptions, tRPC connectionParams
``{"authorization": "Bearer <key>"}``). With no keys configured the server only listens on
loopback and everyone there is an admin named ``local``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final

from server.errors import Forbidden, Unauthorized
from server.settings import ApiKey

# Permissions by role. Procedures name the permission they need.
ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset({"read", "create", "execute", "cancel", "retry", "review", "webhooks",
                        "schedules", "admin"}),
    "operator": frozenset({"read", "create", "execute", "cancel", "retry", "webhooks",
                           "schedules"}),
    "reviewer": frozenset({"read", "review"}),
    "viewer": frozenset({"read"}),
    "anonymous": frozenset(),
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    #: A key made with a clientId sees and acts on that client's work only (CONTRACT §14).
    client_id: str | None = None

    def require(self, permission: str | None) -> None:
        if permission is None or permission in ROLE_PERMISSIONS[self.role]:
            return
        raise Forbidden(f"the {self.role} role may not do this (needs {permission!r})")


LOCAL = Principal("local", "admin")
#: A request without a key whose procedures all need none (``system.health``).
ANONYMOUS = Principal("anonymous", "anonymous")


class KeyRing:
    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        self.keys = keys

    @property
    def open(self) -> bool:
        """No keys configured: loopback-only, no authentication."""
        return not self.keys

    def authenticate(self, authorization: str | None) -> Principal:
        if self.open:
            return LOCAL
        found = self.match(self.token_of(authorization))
        if found is None:
            raise Unauthorized("unknown API key")
        return found

    @staticmethod
    def token_of(authorization: str | None) -> str:
        """The key of an ``Authorization: Bearer <key>``; Unauthorized if missing or malformed."""
        if not authorization:
            raise Unauthorized("missing API key: send Authorization: Bearer <key>")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("malformed Authorization header: expected Bearer <key>")
        return token.strip()

    def match(self, token: str) -> Principal | None:
        """The ERRANDS_API_KEYS key ``token`` is, if any."""
        presented = token.encode()
        for key in self.keys:  # constant-time compare against every key
            if hmac.compare_digest(key.key.encode(), presented):
                return Principal(key.name, key.role)
        return None
