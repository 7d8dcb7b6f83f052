"""Standard Webhooks signing, checked by the reference ``standardwebhooks`` package; the box."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from server.core.settings import Settings
from server.services import signing
from server.services.secrets_box import (
    SecretBox,
    SecretUnreadable,
    default_key_file,
    load_secret_box,
)


def test_known_vector_from_the_specification() -> None:
    key = signing.secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    sig = signing.signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                            b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("body", [b"{}", b'{"a":"\xc3\xa9"}', b'["' + b"x" * 10_000 + b'"]'])
def test_reference_package_verifies_our_headers(body: bytes) -> None:
    secret = signing.new_secret()
    headers = signing.signed_headers(signing.secret_key(secret), "msg_1", int(time.time()), body)
    Webhook(secret).verify(body, headers)  # raises when wrong


def test_reference_package_refuses_another_secret_or_body() -> None:
    secret, other = signing.new_secret(), signing.new_secret()
    headers = signing.signed_headers(signing.secret_key(secret), "msg_1", int(time.time()),
                                     b"{}")
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(b"{}", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"x":1}', headers)


def test_new_secret_shape() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert secret != signing.new_secret()


@pytest.mark.parametrize(("secret", "problem"), [
    ("abc", "must start with 'whsec_'"),
    ("whsec_!!!", "followed by base64"),
    ("whsec_" + base64.b64encode(b"x" * 23).decode(), "24 to 64 bytes, not 23"),
    ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes, not 65"),
])
def test_malformed_secrets(secret: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        signing.secret_key(secret)
    assert secret not in str(info.value) or secret == "abc"


def test_box_round_trip_and_context_binding() -> None:
    box = SecretBox(b"material")
    sealed = box.seal("whsec_abc", context="whk_1")
    assert b"whsec_abc" not in sealed
    assert box.open(sealed, context="whk_1") == "whsec_abc"
    with pytest.raises(SecretUnreadable):
        box.open(sealed, context="whk_2")
    with pytest.raises(SecretUnreadable):
        SecretBox(b"other").open(sealed, context="whk_1")


def test_key_file_is_generated_once_beside_the_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'errands.db'}"
    assert default_key_file(url) == tmp_path / "db" / "errands.db.secret-key"
    settings = Settings(database_url=url)
    sealed = load_secret_box(settings).seal("s", context="c")
    key_file = tmp_path / "db" / "errands.db.secret-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_secret_box(settings).open(sealed, context="c") == "s"
    with pytest.raises(SecretUnreadable):
        load_secret_box(Settings(database_url=url, secret_key="set")).open(sealed, context="c")
