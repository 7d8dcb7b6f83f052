"""API keys and roles (docs/CONTRACT.md §8).

``Authorization: Bearer <key>`` (or, for subscriptions, tRPC connectionParams
``{"authorization": "Bearer <key>"}``). With no keys configured the server only listens on
loopback and everyone there is an admin named ``local``.

Subscription tokens (CONTRACT §13, ``system.subscriptionToken``) keep keys out of URLs: a
browser's EventSource sends its connectionParams in the URL, so the console sends a token
instead — ``est_<payload>.<signature>``, the payload naming the issuing key and the expiry,
signed with HMAC-SHA256 under that key itself. Any node with the same ERRANDS_API_KEYS
checks it without shared state, it carries the key's role as configured when it is used,
and a key removed from the configuration takes its tokens with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec

from server.core.errors import Forbidden, Unauthorized
from server.core.settings import ApiKey

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
    #: A run-time key's SHA-256 (keys.create); None for an ERRANDS_API_KEYS key.
    key_hash: str | None = None

    def require(self, permission: str | None) -> None:
        if permission is None or permission in ROLE_PERMISSIONS[self.role]:
            return
        raise Forbidden(f"the {self.role} role may not do this (needs {permission!r})")


LOCAL = Principal("local", "admin")
#: A request without a key whose procedures all need none (``system.health``).
ANONYMOUS = Principal("anonymous", "anonymous")


TOKEN_PREFIX: Final = "est_"
TOKEN_SECONDS: Final = 300


class TokenClaims(msgspec.Struct):
    n: str  # the issuing key's name
    e: int  # expiry, epoch seconds
    h: str | None = None  # a run-time key's SHA-256 (keys.create); None: ERRANDS_API_KEYS


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyRing:
    """ERRANDS_API_KEYS and subscription tokens. Keys made at run time are the KeyService's
    (server/services/keys.py); their tokens are signed with ``runtime_secret`` (derived from
    ERRANDS_SECRET_KEY, which every node shares) and name the key's hash, so the KeyService
    refuses them once the key is revoked."""

    def __init__(self, keys: tuple[ApiKey, ...],
                 clock: Callable[[], float] = time.time, *,
                 runtime_secret: bytes | None = None) -> None:
        self.keys = keys
        self.clock = clock
        self._by_name = {k.name: k for k in keys}
        self._open_secret = os.urandom(32)  # signs the tokens of a server without keys
        self._runtime_secret = runtime_secret or self._open_secret

    def _signature(self, claims: TokenClaims, payload: str) -> bytes:
        key = self._by_name.get(claims.n) if claims.h is None else None
        secret = (key.key.encode() if key is not None
                  else self._runtime_secret if claims.h is not None else self._open_secret)
        return hmac.new(secret, b"errands subscription token\n" + payload.encode(),
                        hashlib.sha256).digest()

    def subscription_token(self, principal: Principal) -> tuple[str, float]:
        """A token standing for ``principal``'s key in subscription connectionParams, and
        when it expires (epoch seconds, at most TOKEN_SECONDS from now)."""
        expires = int(self.clock()) + TOKEN_SECONDS
        claims = TokenClaims(principal.name, expires, principal.key_hash)
        payload = _b64(msgspec.json.encode(claims))
        return (f"{TOKEN_PREFIX}{payload}.{_b64(self._signature(claims, payload))}",
                float(expires))

    def token_claims(self, token: str, *, subscription_token: bool) -> TokenClaims:
        """The claims of a subscription token whose signature and expiry hold; refused unless
        it came as a subscription's connectionParams (``subscription_token``)."""
        if not subscription_token:
            raise Unauthorized("a subscription token is accepted only in the "
                               "connectionParams of a subscription")
        payload, _, signature = token.removeprefix(TOKEN_PREFIX).partition(".")
        try:
            claims = msgspec.json.decode(_unb64(payload), type=TokenClaims)
            given = _unb64(signature)
        except (ValueError, msgspec.DecodeError):
            raise Unauthorized("malformed subscription token") from None
        known = claims.h is not None or claims.n in self._by_name
        if not known or not hmac.compare_digest(self._signature(claims, payload), given):
            raise Unauthorized("invalid subscription token")
        if claims.e <= self.clock():
            raise Unauthorized("subscription token expired: ask system.subscriptionToken "
                               "for a new one")
        return claims

    def configured(self, name: str) -> Principal:
        """The ERRANDS_API_KEYS key named ``name`` (a subscription token's issuer)."""
        key = self._by_name.get(name)
        if key is None:
            raise Unauthorized("invalid subscription token")
        return Principal(key.name, key.role)

    @property
    def open(self) -> bool:
        """No keys configured: loopback-only, no authentication."""
        return not self.keys

    def authenticate(self, authorization: str | None, *, subscription_token: bool = False
                     ) -> Principal:
        """The caller of ``authorization`` (``Bearer <key>``) among ERRANDS_API_KEYS; with
        ``subscription_token`` (subscription connectionParams only) also ``Bearer <token>``
        of such a key. Keys made at run time are the KeyService's (server/node/app.py)."""
        if self.open:
            return LOCAL
        token = self.token_of(authorization)
        found = self.match(token)
        if found is not None:
            return found
        if token.startswith(TOKEN_PREFIX):
            claims = self.token_claims(token, subscription_token=subscription_token)
            if claims.h is None:
                return self.configured(claims.n)
        raise Unauthorized("unknown API key")

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
