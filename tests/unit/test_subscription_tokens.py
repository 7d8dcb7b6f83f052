"""Subscription tokens (CONTRACT §13): signed by the issuing key, valid 300 s, accepted only
where the caller says a subscription's connectionParams carried them."""

from __future__ import annotations

import pytest

from server.core.auth import KeyRing, Principal
from server.core.errors import Unauthorized
from server.core.settings import ApiKey

KEYS = (ApiKey("ops", "operator", "ops-key"), ApiKey("eve", "viewer", "eve-key"))


def test_a_token_carries_the_issuing_keys_role_until_it_expires() -> None:
    now = [1_000_000.0]
    ring = KeyRing(KEYS, clock=lambda: now[0])
    token, expires = ring.subscription_token(Principal("ops", "operator"))
    assert expires - now[0] <= 300
    assert "ops-key" not in token
    assert ring.authenticate(f"Bearer {token}", subscription_token=True) == \
        Principal("ops", "operator")
    with pytest.raises(Unauthorized, match="subscription"):
        ring.authenticate(f"Bearer {token}")  # a header or a query: never
    now[0] = expires
    with pytest.raises(Unauthorized, match="expired"):
        ring.authenticate(f"Bearer {token}", subscription_token=True)


def test_a_token_cannot_be_forged_or_outlive_its_key() -> None:
    ring = KeyRing(KEYS)
    token, _ = ring.subscription_token(Principal("eve", "viewer"))
    payload, _, signature = token.partition(".")
    other, _ = ring.subscription_token(Principal("ops", "operator"))
    # eve's signature on ops's claims, or a token of a key no longer configured
    for forged in (other.partition(".")[0] + "." + signature, payload + ".AAAA", "est_x.y"):
        with pytest.raises(Unauthorized):
            ring.authenticate(f"Bearer {forged}", subscription_token=True)
    with pytest.raises(Unauthorized, match="invalid"):
        KeyRing(KEYS[:1]).authenticate(f"Bearer {token}", subscription_token=True)
