"""Webhook secrets at rest: AES-256-GCM under a key derived from ERRANDS_SECRET_KEY.

- The key is HKDF-SHA256(ERRANDS_SECRET_KEY, info="errands webhook secrets v1"), 32 bytes.
- A sealed value is ``nonce (12 bytes) || ciphertext+tag``; the associated data is the
  webhook id, so a sealed secret copied onto another row does not open.
- Without ERRANDS_SECRET_KEY a random key is generated ONCE into a key file (mode 0600) —
  next to the SQLite database (``<database>.secret-key``), else ``./errands-secret.key`` — and
  the server logs where. Losing that file (or changing the variable) makes stored webhook
  secrets unreadable: their deliveries fail with "cannot decrypt the webhook secret".
  Several PostgreSQL nodes must share ERRANDS_SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from server.core.settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("errands.secrets")
_INFO = b"errands webhook secrets v1"
_TOKEN_INFO = b"errands url tokens v1"
_NONCE = 12


class SecretUnreadable(Exception):
    """A sealed secret cannot be opened with this server's key."""


class SecretBox:
    """Seals and opens webhook secrets. The cipher is built at the first seal or open:
    ``cryptography`` (OpenSSL bindings, megabytes resident) is imported only by a server that
    has webhook secrets to handle."""

    def __init__(self, material: bytes) -> None:
        if not material:
            raise ValueError("empty key material")
        self._material: bytes | None = material
        self._cipher: AESGCM | None = None
        self._token_key: bytes | None = None
        self._derive_base = hashlib.sha256(b"errands derived keys\n" + material).digest()

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (e.g. signing subscription tokens), the same on every
        node that shares ERRANDS_SECRET_KEY, independent of the sealing key; computed without
        importing ``cryptography``."""
        return hmac.new(self._derive_base, purpose.encode(), hashlib.sha256).digest()

    def _derive(self) -> None:
        """The cipher and the token key from the material, which is then dropped."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        assert self._material is not None
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=_INFO).derive(self._material)
        self._token_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                               info=_TOKEN_INFO).derive(self._material)
        self._cipher, self._material = AESGCM(key), None

    def _aead(self) -> AESGCM:
        if self._cipher is None:
            self._derive()
        assert self._cipher is not None
        return self._cipher

    def token(self, context: str) -> str:
        """An unguessable token for ``context`` (256-bit HMAC, base64url): the same on every
        node sharing the key, so a URL holding it can be shown again without storing it."""
        if self._token_key is None:
            self._derive()
        assert self._token_key is not None
        digest = hmac.new(self._token_key, context.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def seal(self, plaintext: str, *, context: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead().encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, *, context: str) -> str:
        """The plaintext; SecretUnreadable when the key or the context differ."""
        from cryptography.exceptions import InvalidTag

        aead = self._aead()
        try:
            return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode()).decode()
        except (InvalidTag, ValueError):
            raise SecretUnreadable("cannot decrypt the webhook secret (was "
                                   "ERRANDS_SECRET_KEY or the key file changed?)") from None


def default_key_file(database_url: str) -> Path:
    """``<sqlite database>.secret-key`` beside the database, else ``./errands-secret.key``."""
    if database_url.startswith("sqlite"):
        database = sa.engine.make_url(database_url).database
        if database and database != ":memory:":
            path = Path(database).expanduser()
            return path.with_name(path.name + ".secret-key")
    return Path("errands-secret.key")


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for ERRANDS_SECRET_KEY, or for the key file (created on first use, logged)."""
    if settings.secret_key:
        return SecretBox(settings.secret_key.encode())
    path = settings.secret_key_file or default_key_file(settings.database_url)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        log.warning("ERRANDS_SECRET_KEY is not set: generated a webhook secret key in %s "
                    "(keep it with the database; set ERRANDS_SECRET_KEY to choose one)",
                    path.resolve())
    else:
        log.info("ERRANDS_SECRET_KEY is not set: using the key file %s", path.resolve())
    return SecretBox(path.read_text().strip().encode())
