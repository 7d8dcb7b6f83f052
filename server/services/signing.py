"""Standard Webhooks signing (https://www.standardwebhooks.com), PURE but for ``new_secret``.

A secret is ``whsec_`` + base64 of 24..64 random bytes; the key is the decoded bytes. A
delivery carries ``webhook-id`` (the message id, the same on every retry so that receivers
can de-duplicate), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

PREFIX = "whsec_"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


def new_secret() -> str:
    """A fresh secret: ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def secret_key(secret: str) -> bytes:
    """The signing key of ``secret``; ValueError (never quoting the secret) when malformed."""
    if not secret.startswith(PREFIX):
        raise ValueError(f"must start with {PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except binascii.Error:
        raise ValueError(f"must be {PREFIX!r} followed by base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"must encode {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, "
                         f"not {len(key)}")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``"<id>.<timestamp>.<body>"``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(key: bytes, message_id: str, timestamp: int, body: bytes
                   ) -> dict[str, str]:
    """The three Standard Webhooks headers plus the JSON content type."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }


TOLERANCE_SECONDS = 300


def verify(key: bytes, message_id: str | None, timestamp: str | None,
           signatures: str | None, body: bytes, now: float) -> str | None:
    """None when one ``v1`` signature of ``signatures`` (space-separated) signs ``body`` and
    the timestamp is within :data:`TOLERANCE_SECONDS` of ``now``; else what is wrong."""
    if not message_id or not timestamp or not signatures:
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    try:
        sent = int(timestamp)
    except ValueError:
        return "webhook-timestamp is not a number of seconds"
    if abs(now - sent) > TOLERANCE_SECONDS:
        return "webhook-timestamp is too old or too new"
    signed = f"{message_id}.{timestamp}.".encode() + body  # the timestamp as it was sent
    expected = ("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
                .decode()).encode()
    for item in signatures.split():
        if item.startswith("v1,") and hmac.compare_digest(item.encode(), expected):
            return None
    return "no valid signature"
