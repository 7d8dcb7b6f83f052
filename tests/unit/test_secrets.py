"""schemas.secrets: what is masked where a config is shown, and what is scrubbed by value."""

from __future__ import annotations

import base64
import random

import msgspec
import pytest

from schemas.secrets import (
    is_secret_header,
    is_secret_query,
    mask_config,
    mask_metadata,
    scrub,
    secret_values,
)
from server.rpc.errors import TRPCError
from server.rpc.inputs import MAX_DEPTH, InputSpec, check_depth, parse_json

MASK = "********"


@pytest.mark.parametrize("name", ["Authorization", "X-Auth", "X-Custom-Key", "Private-Token",
                                  "Cookie", "X-Session-Id", "X-Hub-Signature", "X-Secret",
                                  "Proxy-Authorization", "X-Password"])
def test_secret_header_names(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize("name", ["Accept", "Content-Type", "X-Request-Id", "User-Agent"])
def test_plain_header_names(name: str) -> None:
    assert not is_secret_header(name)


@pytest.mark.parametrize("name", ["api_key", "API_KEY", "key", "token", "access_token",
                                  "signature", "sig", "secret", "password", "access_key",
                                  "X-Amz-Signature", "client_secret", "apiKey"])
def test_secret_query_names(name: str) -> None:
    assert is_secret_query(name)


@pytest.mark.parametrize("name", ["page", "q", "limit", "monkey", "sort"])
def test_plain_query_names(name: str) -> None:
    assert not is_secret_query(name)


def test_api_call_config_is_masked_everywhere_it_hides() -> None:
    config = {
        "apiEndpoint": "https://alice:pw-1xx@api.example.com/x?api_key=k-2xx&page=3&Sig=s-3xx",
        "authType": "bearer", "bearerToken": "b-4xx", "apiKeyHeader": "X-Partner",
        "headers": {"X-Partner": "p-5xx", "X-Auth": "a-6xx", "Accept": "application/json"},
        "query": {"token": "t-7xx", "page": 2, "key": ["l-8xx"]},
        "body": {"password": "pw-9xx", "name": "ok", "link": "http://h/?access_token=at-10xx"},
    }
    shown = mask_config("api_call", config)
    assert shown["apiEndpoint"] == \
        f"https://alice:{MASK}@api.example.com/x?api_key={MASK}&page=3&Sig={MASK}"
    assert shown["bearerToken"] == MASK
    assert shown["headers"] == {"X-Partner": MASK, "X-Auth": MASK, "Accept": "application/json"}
    assert shown["query"] == {"token": MASK, "page": 2, "key": [MASK]}
    assert shown["body"] == {"password": MASK, "name": "ok",
                             "link": f"http://h/?access_token={MASK}"}
    assert config["headers"]["X-Partner"] == "p-5xx"  # the stored config is untouched
    found = secret_values("api_call", config)
    for value in ("pw-1xx", "k-2xx", "s-3xx", "b-4xx", "p-5xx", "a-6xx", "t-7xx", "l-8xx",
                  "pw-9xx", "at-10xx"):
        assert value in found


def test_browser_type_steps_secret_or_password_field_are_masked() -> None:
    config = {"startUrl": "https://x/?token=tok-1", "steps": [
        {"action": "type", "selector": "#user", "text": "alice"},
        {"action": "type", "selector": "input[type=password]", "text": "pw-2"},
        {"action": "type", "selector": "#otp", "text": "otp-3", "secret": True},
        {"action": "navigate", "url": "https://u:pw-4@x/"},
    ]}
    shown = mask_config("browser_automation", config)
    assert [s.get("text") for s in shown["steps"]] == ["alice", MASK, MASK, None]
    assert shown["startUrl"] == f"https://x/?token={MASK}"
    assert shown["steps"][3]["url"] == f"https://u:{MASK}@x/"
    assert set(secret_values("browser_automation", config)) >= {"tok-1", "pw-2", "otp-3", "pw-4"}


def test_metadata_keys_that_look_secret_are_masked() -> None:
    assert mask_metadata({"password": "p", "client": {"apiToken": "t", "name": "n"}}) == \
        {"password": MASK, "client": {"apiToken": MASK, "name": "n"}}


def test_scrub_replaces_every_secret_value_including_basic_credentials() -> None:
    config = {"apiEndpoint": "https://x/", "authType": "basic", "basicUsername": "bob",
              "basicPassword": "hunter22"}
    secrets = secret_values("api_call", config)
    basic = base64.b64encode(b"bob:hunter22").decode()
    echoed = {"headers": {"authorization": f"Basic {basic}"}, "body": "pw was hunter22",
              "hunter22": ["hunter22"]}
    assert scrub(echoed, secrets) == {"headers": {"authorization": f"Basic {MASK}"},
                                      "body": f"pw was {MASK}", MASK: [MASK]}


def test_tiny_secrets_are_masked_but_not_scrubbed() -> None:
    config = {"apiEndpoint": "https://x/", "bearerToken": "ab"}
    assert mask_config("api_call", config)["bearerToken"] == MASK
    assert secret_values("api_call", config) == ()


# --- input depth (server/rpc/inputs.py) ----------------------------------------------------

@pytest.mark.parametrize("raw", ["[" * 1000 + "]" * 1000, '{"a":' * 100_000 + "1" + "}" * 100_000,
                                 "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)])
def test_nesting_deeper_than_the_limit_is_a_parse_error(raw: str) -> None:
    with pytest.raises(TRPCError) as caught:
        parse_json(raw)
    assert caught.value.code == "PARSE_ERROR"
    spec = InputSpec(dict[str, object])
    with pytest.raises(TRPCError) as decoded:
        spec.from_json(raw.encode())
    assert decoded.value.code == "PARSE_ERROR"


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_fine() -> None:
    check_depth("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    check_depth('["' + "[" * 500 + '", "\\"' + "{" * 500 + '"]')
    assert parse_json('{"a": "[[[["}') == {"a": "[[[["}



def _deepest(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_deepest(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_deepest(v) for v in value), default=0)
    return 0


def _nested(rng: random.Random, depth: int) -> object:
    """A JSON value nesting at least ``depth`` levels, with strings full of brackets, quotes
    and backslashes beside the nesting (what the fast path of check_depth must see through)."""
    noise = "".join(rng.choice('[]{}"\\ab\n') for _ in range(rng.randrange(12)))
    if depth == 0:
        return noise
    inner = _nested(rng, depth - 1)
    choices: list[object] = [noise, [noise], {"k": noise}]
    siblings = choices[: rng.randrange(4)]
    if rng.random() < 0.5:
        return [*siblings, inner]
    return {"s": siblings, noise: inner}


@pytest.mark.parametrize("seed", range(40))
def test_check_depth_agrees_with_the_nesting_of_the_decoded_value(seed: int) -> None:
    rng = random.Random(seed)
    depth = rng.choice([1, 2, 3, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 5])
    value = [_nested(rng, depth - 1) for _ in range(rng.randrange(1, 30))]
    raw = msgspec.json.encode(value)
    if _deepest(msgspec.json.decode(raw)) > MAX_DEPTH:
        with pytest.raises(TRPCError):
            check_depth(raw)
    else:
        check_depth(raw)


# --- CONTRACT §13 "Secrets, continued" -------------------------------------------------------

def test_scrubbing_covers_percent_form_and_base64_forms() -> None:
    from schemas.secrets import masked_config_and_secrets as walk

    secret = "p@ss word/+:&=?"
    _, found = walk("api_call", {"apiEndpoint": "https://x.test/", "authType": "basic",
                                 "basicUsername": "bob", "basicPassword": secret})
    upper = "p%40ss%20word%2F%2B%3A%26%3D%3F"
    for form in (secret, upper, upper.lower(), "p%40ss+word%2F%2B%3A%26%3D%3F",
                 base64.b64encode(f"bob:{secret}".encode()).decode()):
        assert scrub(f"seen: {form}.", found) == "seen: ********.", form


def test_form_bodies_fragments_and_result_fields_are_masked() -> None:
    from schemas.secrets import mask_result

    shown = mask_config("api_call", {
        "apiEndpoint": "https://x.test/cb#state=1&access_token=abcd1234",
        "contentType": "application/x-www-form-urlencoded",
        "body": "grant_type=password&username=bob&password=hunter22&client_key=k2k2k2"})
    assert shown["apiEndpoint"] == "https://x.test/cb#state=1&access_token=********"
    assert shown["body"] == ("grant_type=password&username=bob&password=********"
                             "&client_key=********")
    assert mask_config("api_call", {"apiEndpoint": "https://x.test/",
                                    "body": "not a form: token=x y"})["body"] == \
        "not a form: token=x y"
    result = {"status": 200, "body": {"access_token": "a", "refreshToken": "r", "id_token": "i",
                                      "items": [{"client_secret": "c", "name": "n"}],
                                      "expires_in": 60, "secret": None}}
    assert mask_result(result) == {"status": 200, "body": {
        "access_token": "********", "refreshToken": "********", "id_token": "********",
        "items": [{"client_secret": "********", "name": "n"}], "expires_in": 60,
        "secret": None}}
