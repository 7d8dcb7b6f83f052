"""Which parts of a task's config and metadata are secret — the one copy of each rule.

Two uses of the same walk:

- :func:`mask_config` / :func:`mask_metadata`: what clients see (answers, events, audit, step
  detail) — every secret reads ``"********"``;
- :func:`secret_values`: the secret strings themselves, so the runner can scrub them by value
  (:func:`scrub`) from whatever an attempt saw (a remote that echoes its request, an error
  quoting a URL), before anything is recorded or logged.

What is secret:

- the fields of ``SECRET_FIELDS`` (``bearerToken``, ``apiKey``, ``basicPassword``);
- any string under a key that sounds secret (:func:`is_secret_key`: ``password``, ``token``,
  ``secret``, ``apiKey``, ``signature``, ``authorization``, ``cookie``, ``session`` ...) at any
  depth, ``metadata`` included;
- header values whose name contains auth/key/token/secret/signature/cookie/session/password/
  credential (:func:`is_secret_header`), and the header named by ``apiKeyHeader``;
- in every string that holds a URL: the userinfo password and the values of secret-looking
  query parameters (:func:`is_secret_query`: ``api_key``, ``key``, ``token``, ``sig`` ...);
- the ``text`` of a browser ``type`` step with ``secret: true`` or whose selector names a
  password field (``input[type=password]``, ``#password``); the executor also treats typing
  into an element that turns out to be a password field as secret.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

from schemas.configs import MASK, SECRET_FIELDS

_KEY_SUFFIXES: Final = ("password", "passwd", "passphrase", "token", "secret", "apikey",
                        "accesskey", "secretkey", "privatekey", "signature", "credential",
                        "credentials", "cookie", "sessionid")
_KEY_EXACT: Final = frozenset({"authorization", "auth", "key", "sig", "pwd", "pass",
                               "session", "otp", "pin"})
_HEADER_WORDS: Final = ("auth", "key", "token", "secret", "signature", "cookie", "session",
                        "password", "credential")
_QUERY_EXACT: Final = frozenset({"key", "sig", "signature", "code", "auth", "pwd", "pass",
                                 "xamzsignature", "xamzcredential", "xamzsecuritytoken",
                                 "xgoogsignature", "xgoogcredential"})
# Result fields that read "********" in answers and events (the stored result keeps them for
# {{dep.N.path}}): what token endpoints and credential APIs answer with.
_RESULT_SECRETS: Final = frozenset({"accesstoken", "refreshtoken", "idtoken", "clientsecret",
                                    "password", "apikey", "secret"})
_FORM_WORDS: Final = ("password", "passwd", "token", "secret", "key")
_FORM_BODY: Final = re.compile(r"[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*")
_PERCENT_HEX: Final = re.compile(r"%[0-9A-F]{2}")
_PLAIN: Final = re.compile(r"[A-Za-z0-9_.~-]*")  # nothing to encode: one form
_PASSWORD_SELECTOR: Final = re.compile(r"password|passwd|type\s*=\s*['\"]?password", re.I)
#: Secrets shorter than this are masked where shown but not scrubbed by value (a one-letter
#: "secret" would otherwise erase that letter from every output).
MIN_SCRUB_LENGTH: Final = 4


def _norm(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(".", "")


def _kept(rule: Callable[[str], bool]) -> Callable[[str], bool]:
    """A name rule whose answers are kept for short names (bounded): the rules are pure and meet
    the same few names (config fields, header and query names) on every task created, viewed
    and run."""
    cached = functools.lru_cache(maxsize=2048)(rule)

    @functools.wraps(rule)
    def check(name: str) -> bool:
        return cached(name) if len(name) <= 64 else rule(name)

    return check


@_kept
def is_secret_key(name: str) -> bool:
    """A JSON key whose string value is a secret (``password``, ``accessToken``, ``api_key``)."""
    low = _norm(name)
    return low.endswith(_KEY_SUFFIXES) or low in _KEY_EXACT


@_kept
def is_secret_header(name: str) -> bool:
    """A header whose value is a secret (``Authorization``, ``X-Custom-Key``, ``Cookie``)."""
    low = name.lower()
    return any(word in low for word in _HEADER_WORDS)


@_kept
def is_secret_query(name: str) -> bool:
    """A query parameter whose value is a secret (``api_key``, ``token``, ``sig``)."""
    return is_secret_key(name) or _norm(name) in _QUERY_EXACT


@_kept
def is_secret_form_field(name: str) -> bool:
    """A field of a form-encoded body whose value is a secret (``password``, ``client_key``,
    ``refresh_token``, ``secret``)."""
    low = _norm(name)
    return is_secret_query(name) or any(word in low for word in _FORM_WORDS)


@functools.lru_cache(maxsize=4096)
def encoded_forms(secret: str) -> frozenset[str]:
    """The forms a secret takes inside a URL or a form body: percent-encoded with every
    reserved character encoded (hex in upper and lower case) and form-encoded (``+`` for a
    space), besides itself. Kept for the last 4,096 secrets: every attempt of a task asks
    again (the same process already keeps them: they are in the tasks' configs)."""
    if _PLAIN.fullmatch(secret):
        return frozenset((secret,))
    forms = {secret}
    for encoded in (quote(secret, safe=""), quote_plus(secret, safe="")):
        forms.add(encoded)
        forms.add(_PERCENT_HEX.sub(lambda m: m.group(0).lower(), encoded))
    return frozenset(forms)


def _mask_pairs(text: str, is_secret: Callable[[str], bool], found: set[str]) -> str:
    """``a=1&token=x`` with the values of secret-named pairs masked (their raw and decoded
    values added to ``found``)."""
    pairs = []
    for pair in text.split("&"):
        name, eq, value = pair.partition("=")
        if eq and value and is_secret(unquote_plus(name)):
            found.update({value, unquote_plus(value)})
            pair = f"{name}={MASK}"
        pairs.append(pair)
    return "&".join(pairs)


def is_password_selector(selector: str) -> bool:
    """A ``type`` step's selector that names a password field."""
    return bool(_PASSWORD_SELECTOR.search(selector))


@functools.lru_cache(maxsize=4096)
def _url_secrets(text: str) -> tuple[str, tuple[str, ...]]:
    """A URL text masked, and the secrets it holds (its password, secret query values).

    Pure, and asked again for every task that names the same endpoint (several walks an
    attempt): kept for the last 4,096 texts."""
    found: set[str] = set()
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return MASK, (text,)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if colon and password:
            found.update({password, unquote(password)})
            found.add(base64.b64encode(
                f"{unquote(user)}:{unquote(password)}".encode()).decode())
            text = text.replace(f"{userinfo}@{host}", f"{user}:{MASK}@{host}", 1)
    if parts.query:
        masked = _mask_pairs(parts.query, is_secret_query, found)
        if masked != parts.query:
            text = text.replace(f"?{parts.query}", "?" + masked, 1)
    if "=" in parts.fragment:  # e.g. an OAuth implicit answer: #access_token=...&state=...
        head, mark, pairs = parts.fragment.rpartition("?")
        masked = head + mark + _mask_pairs(pairs, is_secret_query, found)
        if masked != parts.fragment:
            text = text.replace(f"#{parts.fragment}", "#" + masked, 1)
    return text, tuple(found)


class _Walk:
    """Masks a value, collecting the original secret strings in ``found``."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: set[str] = set()

    def secret(self, value: Any) -> Any:
        if isinstance(value, str) and value:
            self.found.add(value)
            self.found.update(part for part in value.split(" ", 1)[1:] if part)
            return MASK
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.found.add(str(value))
            return MASK
        return self.any(value)

    def url(self, text: str) -> str:
        """``text`` with a URL's password and secret query values masked."""
        if "://" not in text and "?" not in text and "#" not in text:
            return text
        masked, found = _url_secrets(text)
        self.found.update(found)
        return masked

    def any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.url(value)
        if isinstance(value, dict):
            return {k: self.secret(v) if isinstance(k, str) and is_secret_key(k)
                    else self.any(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.any(v) for v in value]
        return value

    def headers(self, value: Any, also: str | None) -> Any:
        if not isinstance(value, dict):
            return self.any(value)
        extra = also.lower() if isinstance(also, str) else None
        return {k: self.secret(v) if isinstance(k, str) and (
            is_secret_header(k) or k.lower() == extra) else self.any(v)
            for k, v in value.items()}

    def query(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return self.any(value)
        return {k: self.secret(v) if isinstance(k, str) and is_secret_query(k)
                and not isinstance(v, list) else
                [self.secret(x) for x in v] if isinstance(k, str) and is_secret_query(k)
                else self.any(v) for k, v in value.items()}

    def step(self, value: Any) -> Any:
        if not isinstance(value, dict) or value.get("action") != "type":
            return self.any(value)
        step = self.any(value)
        selector = value.get("selector")
        if value.get("secret") is True or (isinstance(selector, str)
                                           and is_password_selector(selector)):
            step["text"] = self.secret(value.get("text"))
        return step

    def config(self, task_type: str, config: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in config.items():
            if key in SECRET_FIELDS.get(task_type, ()) or is_secret_key(key):
                out[key] = self.secret(value)
            elif key == "headers":
                out[key] = self.headers(value, config.get("apiKeyHeader"))
            elif key == "query":
                out[key] = self.query(value)
            elif key == "steps" and isinstance(value, list):
                out[key] = [self.step(s) for s in value]
            elif key == "body" and isinstance(value, str) and _is_form(
                    value, config.get("contentType")):
                out[key] = _mask_pairs(value, is_secret_form_field, self.found)
            else:
                out[key] = self.any(value)
        if task_type == "api_call" and config.get("authType") == "basic":
            user, password = config.get("basicUsername"), config.get("basicPassword")
            if isinstance(user, str) and isinstance(password, str):
                self.found.add(base64.b64encode(f"{user}:{password}".encode()).decode())
        return out


def _is_form(body: str, content_type: Any) -> bool:
    """A string body sent (or shaped) as ``application/x-www-form-urlencoded``."""
    if isinstance(content_type, str) and "x-www-form-urlencoded" in content_type.lower():
        return True
    return content_type is None and _FORM_BODY.fullmatch(body.strip()) is not None


def mask_result(value: Any) -> Any:
    """A task's result (an attempt's output) as answers and events show it: fields named
    ``access_token``, ``refresh_token``, ``id_token``, ``client_secret``, ``password``,
    ``api_key``, ``secret`` (any spelling, any depth) read ``"********"``."""
    # Hot (every task view): what holds no such field is returned as it is, not copied.
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            if v is not None and v != "" and isinstance(k, str) and _is_result_secret(k):
                new: Any = MASK
            elif isinstance(v, dict | list):
                new = mask_result(v)
                if new is v:
                    continue
            else:
                continue
            if out is None:
                out = dict(value)
            out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        items = [mask_result(v) if isinstance(v, dict | list) else v for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


@_kept
def _is_result_secret(name: str) -> bool:
    return _norm(name) in _RESULT_SECRETS


def mask_config(task_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """The executionConfig (wire form, camelCase) as clients may see it."""
    return _Walk().config(task_type, config)


def mask_metadata(metadata: Any) -> Any:
    """Task metadata as clients may see it: secret-sounding keys and URL secrets masked."""
    return _Walk().any(metadata)


def mask_value(value: Any) -> Any:
    """Any JSON value with secret-sounding keys and URL secrets masked, at any depth."""
    return _Walk().any(value)


def secret_values(task_type: str, config: dict[str, Any] | None,
                  metadata: Any = None) -> tuple[str, ...]:
    """Every secret string of a task, longest first (so a longer secret is replaced whole)."""
    return masked_config_and_secrets(task_type, config, metadata)[1]


def masked_config_and_secrets(task_type: str, config: dict[str, Any] | None,
                              metadata: Any = None
                              ) -> tuple[dict[str, Any], tuple[str, ...]]:
    """:func:`mask_config` and :func:`secret_values` in one walk (an attempt needs both)."""
    walk = _Walk()
    masked = walk.config(task_type, config) if config else {}
    if metadata:
        walk.any(metadata)
    forms: set[str] = set()
    for secret in walk.found:
        if len(secret) >= MIN_SCRUB_LENGTH and secret != MASK:
            forms.update(encoded_forms(secret))
    return masked, tuple(sorted(forms, key=len, reverse=True))


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with each secret replaced by the mask in every string (and key) it holds."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(scrub(item, secrets) for item in value)
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    return value
