"""Settings, read once at start from the environment and ``.env`` (the environment wins).

Each setting is declared ONCE, as a field of :class:`Settings`: its type (the annotation), its
variable, its default as written in the environment, its parser and a line of documentation
(:func:`setting`, :func:`optional`). ``.env.example`` and ``docs/configuration.md`` are
generated from these declarations (``scripts/gen_config``; a test checks they are fresh).
Invalid values stop the server at start with a message naming the variable.

Adding a setting: docs/architecture.md, "How to add a setting".
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values

from server.core.errors import ConfigurationError

T = TypeVar("T")

ROLES = ("admin", "operator", "reviewer", "viewer")


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    key: str

    def __repr__(self) -> str:  # never print the key itself
        return f"ApiKey(name={self.name!r}, role={self.role!r})"


def _bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigurationError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(name: str, raw: str, lo: float, hi: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigurationError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def parse_api_keys(raw: str) -> tuple[ApiKey, ...]:
    """``name:role:key`` items, comma-separated. A bad item is named by its position (1-based),
    never quoted: any part of it may be a key."""
    keys: list[ApiKey] = []
    items = [part.strip() for part in raw.split(",")]
    for position, item in enumerate(items, start=1):
        if not item:
            continue
        name, sep1, rest = item.partition(":")
        role, sep2, key = rest.partition(":")
        if not (sep1 and sep2 and name and key):
            raise ConfigurationError(
                f"ERRANDS_API_KEYS item {position} of {len(items)} does not look like "
                "name:role:key")
        if role not in ROLES:
            raise ConfigurationError(
                f"ERRANDS_API_KEYS item {position} of {len(items)} has an unknown role "
                f"(roles: {', '.join(ROLES)}; items are name:role:key)")
        keys.append(ApiKey(name, role, key))
    return tuple(keys)


def _database_url(name: str, raw: str) -> str:
    if not raw.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigurationError(f"{name} must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    return raw


def _str(name: str, raw: str) -> str:
    return raw


def _int_in(lo: int, hi: int) -> Callable[[str, str], int]:
    return lambda name, raw: _int(name, raw, lo, hi)


def _float_in(lo: float, hi: float) -> Callable[[str, str], float]:
    return lambda name, raw: _float(name, raw, lo, hi)


def _type_set(name: str, raw: str) -> frozenset[str]:
    from schemas.configs import CONFIG_TYPES

    types = frozenset(t.strip() for t in raw.split(",") if t.strip())
    unknown = sorted(types - CONFIG_TYPES.keys())
    if unknown:
        raise ConfigurationError(f"{name}: unknown task type {', '.join(map(repr, unknown))} "
                                 f"(types: {', '.join(sorted(CONFIG_TYPES))})")
    return types


def _choice(*choices: str, upper: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value
    return parse


def parse_type_caps(name: str, raw: str) -> dict[str, int]:
    """``type=n,...`` (TYPE_CONCURRENCY): each type a known taskType, each n 1..1024."""
    from schemas.configs import CONFIG_TYPES

    caps: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        task_type, sep, number = (x.strip() for x in item.partition("="))
        if not sep or not task_type:
            raise ConfigurationError(f"{name} items must look like type=n, got {item!r}")
        if task_type not in CONFIG_TYPES:
            raise ConfigurationError(f"{name}: unknown task type {task_type!r} "
                                     f"(types: {', '.join(sorted(CONFIG_TYPES))})")
        caps[task_type] = _int(f"{name} ({task_type})", number, 1, 1024)
    return caps


def _node_id(name: str, raw: str) -> str:
    value = raw.strip()
    if not 1 <= len(value) <= 64 or not value.isprintable() or "/" in value:
        raise ConfigurationError(f"{name} must be 1..64 printable characters without '/'")
    return value


def _delays(name: str, raw: str) -> tuple[float, ...]:
    """Comma-separated seconds, e.g. ``5,30,120,600,2700``; empty means no retries."""
    try:
        values = tuple(float(v) for v in raw.split(",") if v.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be comma-separated seconds, got {raw!r}") from None
    if any(not 0 <= v <= 86400 for v in values) or len(values) > 50:
        raise ConfigurationError(f"{name}: at most 50 delays, each 0..86400 seconds")
    return values


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STALL_STATUSES = ("pending", "awaiting_review", "queued", "scheduled")
DEFAULT_STALLED_AFTER: dict[str, timedelta] = {
    "pending": timedelta(hours=24), "awaiting_review": timedelta(hours=8),
    "queued": timedelta(minutes=10), "scheduled": timedelta(minutes=10)}


def _stalled_after(name: str, raw: str) -> dict[str, timedelta]:
    """``status=<n><s|m|h|d>,...``; statuses not named keep their default limit."""
    limits = dict(DEFAULT_STALLED_AFTER)
    for item in (p.strip() for p in raw.split(",") if p.strip()):
        status, _, amount = item.partition("=")
        status, amount = status.strip(), amount.strip()
        if status not in STALL_STATUSES:
            raise ConfigurationError(f"{name}: unknown status {status!r} (one of "
                                     f"{', '.join(STALL_STATUSES)})")
        unit = _UNITS.get(amount[-1:]) if amount else None
        try:
            value = float(amount[:-1])
        except ValueError:
            value = -1.0
        if unit is None or value <= 0:
            raise ConfigurationError(f"{name}: {item!r} must be status=<number><s|m|h|d>, "
                                     "e.g. awaiting_review=8h")
        limits[status] = timedelta(seconds=value * unit)
    return limits


def _stalled_action(name: str, raw: str) -> str:
    if raw not in ("log", "mark", "notify", "escalate"):
        raise ConfigurationError(f"{name} must be log, mark, notify or escalate, got {raw!r}")
    return raw


def _otel_endpoint(name: str, raw: str) -> str:
    from server.core import tracing

    if not tracing.available():
        raise ConfigurationError(f"{name} is set but the OpenTelemetry packages are not "
                                 f"installed: {tracing.INSTALL_HINT} (or unset {name})")
    return raw


# --- the declaration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    """How a :class:`Settings` field is read and documented."""

    name: str  # the environment variable
    parse: Callable[[str, str], Any]  # (variable name, raw value) -> value; raises
    doc: str  # what it does (one line; .env.example wraps it)
    default: str  # as written in the environment; "" when unset means None (optional)
    unset: str = ""  # what happens when an optional variable is not set (for the docs)
    example: str = ""  # a value to show, commented out, in .env.example
    section: str = ""  # starts a new section of the docs at this variable
    secret: bool = False  # never shown (the field is left out of repr)


def setting(name: str, default: str, parse: Callable[[str, str], T], doc: str, *,
            example: str = "", section: str = "") -> T:
    """A setting read from variable ``name``; its default is ``parse(name, default)``."""
    var = Variable(name, parse, doc, default, example=example, section=section)
    value: T = field(default_factory=lambda: parse(name, default),
                     metadata={"variable": var})
    return value


def optional(name: str, parse: Callable[[str, str], T], doc: str, *, unset: str = "",
             example: str = "", section: str = "", secret: bool = False) -> T | None:
    """A setting that is ``None`` unless variable ``name`` is set."""
    var = Variable(name, parse, doc, "", unset=unset, example=example, section=section,
                   secret=secret)
    value: T | None = field(default=None, repr=not secret, metadata={"variable": var})
    return value


def _path(name: str, raw: str) -> Path:
    return Path(raw)


@dataclass(frozen=True)
class Settings:
    # --- Database
    database_url: str = setting(
        "DATABASE_URL", "sqlite+aiosqlite:///./errands.db", _database_url,
        "SQLite (embedded, one process) by default; PostgreSQL for several nodes.",
        example="postgresql+asyncpg://postgres@127.0.0.1:5432/errands", section="Database")
    # --- Serving
    host: str = setting("HOST", "127.0.0.1", _str,
                        "Where the server listens. Without ERRANDS_API_KEYS it refuses any "
                        "non-loopback HOST.", section="Serving")
    port: int = setting("PORT", "8000", _int_in(0, 65535), "The port it listens on.")
    api_keys: tuple[ApiKey, ...] = setting(
        "ERRANDS_API_KEYS", "", lambda _n, raw: parse_api_keys(raw),
        "API keys: name:role:key, comma-separated. Roles: admin, operator, reviewer, viewer. "
        "None: no authentication (loopback only).",
        example="web:operator:change-me-1,anna:reviewer:change-me-2,ops:admin:change-me-3")
    # --- Work
    worker_concurrency: int = setting("WORKER_CONCURRENCY", "64", _int_in(1, 1024),
                                      "Attempts running at once in this process (an attempt "
                                      "waiting on the network holds a slot, not a CPU).",
                                      section="Work")
    client_concurrency: int = setting(
        "CLIENT_CONCURRENCY", "0", _int_in(0, 100_000),
        "Attempts in progress at once per client (clientId), across all nodes, of tasks "
        "without a concurrencyKey; 0: no limit (claims still take turns across clients).")
    review_required_types: frozenset[str] = setting(
        "REVIEW_REQUIRED_TYPES", "", _type_set,
        "Task types that always need a person's approval before they run (comma-separated).",
        example="ghl_action,browser_automation")
    # --- Browser tasks and artifacts
    artifacts_dir: Path = setting("ARTIFACTS_DIR", "./artifacts", _path,
                                  "Screenshots, traces and reports.",
                                  section="Browser tasks and artifacts")
    artifact_retention_days: int = setting("ARTIFACT_RETENTION_DAYS", "14", _int_in(0, 3650),
                                           "Days artifacts are kept.")
    chromium_path: str | None = optional(
        "CHROMIUM_PATH", _str, "Chromium for browser tasks.",
        unset="Playwright's own browser, else /usr/bin/chromium", example="/usr/bin/chromium")
    browser_concurrency: int = setting("BROWSER_CONCURRENCY", "4", _int_in(1, 64),
                                       "Browser contexts at once.")
    # --- GoHighLevel
    ghl_api_key: str | None = optional("GHL_API_KEY", _str,
                                       "HighLevel API v2 key (private integration token).",
                                       example="pit-...", section="GoHighLevel", secret=True)
    ghl_location_id: str | None = optional("GHL_LOCATION_ID", _str,
                                           "HighLevel location (sub-account) id.")
    ghl_base_url: str = setting("GHL_BASE_URL", "https://services.leadconnectorhq.com",
                                lambda _n, raw: raw.rstrip("/"), "HighLevel API base URL.")
    ghl_rate_limit: int = setting("GHL_RATE_LIMIT", "100", _int_in(1, 100_000),
                                  "Requests per location per window (HighLevel allows 100 per "
                                  "10 s).")
    ghl_rate_window_seconds: float = setting("GHL_RATE_WINDOW_SECONDS", "10",
                                             _float_in(0.1, 86400),
                                             "The window of GHL_RATE_LIMIT, in seconds.")
    # --- Security
    allow_private_network: bool = setting(
        "ALLOW_PRIVATE_NETWORK", "false", _bool,
        "Executors refuse private, loopback and link-local addresses unless this is true.",
        section="Security")
    secret_key: str | None = optional(
        "ERRANDS_SECRET_KEY", _str,
        "Key that encrypts webhook secrets at rest (any long random string); keep it out of "
        "the database. Losing it, or changing it, makes stored webhook secrets unreadable. "
        "Required with PostgreSQL (every node must share one key): without it a PostgreSQL "
        "server refuses to start (exit code 2).",
        unset="SQLite: a random key generated once into SECRET_KEY_FILE", secret=True)
    secret_key_file: Path | None = optional(
        "SECRET_KEY_FILE", _path,
        "Where the generated key lives when ERRANDS_SECRET_KEY is not set.",
        unset="beside the SQLite database (<database>.secret-key), or ./errands-secret.key")
    # --- Webhook delivery
    delivery_timeout_seconds: float = setting("DELIVERY_TIMEOUT_SECONDS", "10",
                                              _float_in(0.1, 600),
                                              "Per-attempt timeout of a webhook delivery.",
                                              section="Webhook delivery")
    delivery_retry_seconds: tuple[float, ...] = setting(
        "DELIVERY_RETRY_SECONDS", "5,30,120,600,2700", _delays,
        "Waits before retries 2..n (seconds, comma-separated; at most 50): the default tries "
        "6 times over about an hour. 4xx (but 408/429) fails at once.")
    # --- Runner
    lease_seconds: float = setting("LEASE_SECONDS", "30", _float_in(1, 3600),
                                   "Lease length: a dead process's attempt is found after "
                                   "this.", section="Runner")
    retry_base_seconds: float = setting("RETRY_BASE_SECONDS", "2", _float_in(0.01, 3600),
                                        "Retry backoff base: RETRY_BASE_SECONDS * 2^(n-1), "
                                        "capped at an hour, with jitter (a task's own "
                                        "retryPolicy overrides it).")
    shutdown_grace_seconds: float = setting(
        "SHUTDOWN_GRACE_SECONDS", "10", _float_in(0, 3600),
        "How long a shutdown lets running attempts finish before interrupting them (keep it "
        "under ~20 s to exit within a container's 30 s grace).")
    # --- Reliability
    node_id: str | None = optional(
        "NODE_ID", lambda name, raw: _node_id(name, raw),
        "This node's stable identity: it owns its leases, so a restarted node takes its own "
        "attempts back at once; give each node on one host its own.",
        unset="<hostname>:<PORT>", example="node-1", section="Reliability")
    type_concurrency: dict[str, int] = setting(
        "TYPE_CONCURRENCY", "", parse_type_caps,
        "Attempts running at once per task type in this process (type=n,...); "
        "browser_automation and data_extraction default to BROWSER_CONCURRENCY. Over its cap "
        "a task waits queued.", example="ghl_action=4,browser_automation=4")
    host_concurrency: int = setting("HOST_CONCURRENCY", "0", _int_in(0, 1024),
                                    "Attempts in flight per destination host (host[:port] of "
                                    "the task's URL) in this process. 0: no fixed cap — one "
                                    "host may use every slot but an eighth of "
                                    "WORKER_CONCURRENCY (at least one), kept for other hosts "
                                    "so a silent host never holds them all.")
    max_lost_attempts: int = setting("MAX_LOST_ATTEMPTS", "5", _int_in(1, 1000),
                                     "Lost attempts in a row (the worker died each time) that "
                                     "end a task as failed.")
    # --- Protocol limits
    max_batch_size: int = setting("MAX_BATCH_SIZE", "100", _int_in(1, 10_000),
                                  "Calls per tRPC batch.", section="Protocol limits")
    allow_method_override: bool = setting(
        "ALLOW_METHOD_OVERRIDE", "false", _bool,
        "Accept queries sent as POST (tRPC's methodOverride). Off: CONTRACT §1 answers them "
        "405.")
    max_body_bytes: int = setting("MAX_BODY_BYTES", "1048576", _int_in(1024, 1 << 30),
                                  "Largest request body.")
    response_body_limit: int = setting("RESPONSE_BODY_LIMIT", "65536", _int_in(0, 1 << 30),
                                       "Bytes of an api_call's response body kept.")
    sse_ping_seconds: float = setting("SSE_PING_SECONDS", "10", _float_in(0.05, 600),
                                      "Ping interval of subscriptions (Server-Sent Events).")
    # --- Workflows (CONTRACT §10)
    stalled_after: dict[str, timedelta] = setting(
        "STALLED_AFTER", "pending=24h,awaiting_review=8h,queued=10m,scheduled=10m",
        _stalled_after,
        "A task waiting longer than its status' limit (status=<n><s|m|h|d>; statuses not "
        "named keep these defaults; scheduled counts past its due time) gets stalledSince, a "
        "`stalled` event and an audit entry.", section="Workflows (CONTRACT §10)")
    stalled_check_seconds: float = setting("STALLED_CHECK_SECONDS", "60",
                                           _float_in(0.1, 86400),
                                           "How often stalled work is looked for.")
    stalled_action: str = setting(
        "STALLED_ACTION", "mark", _stalled_action,
        "log, mark, notify or escalate (notify also sends one signed task.stalled message to "
        "the task's sourceWebhookId, else STALLED_WEBHOOK_ID; escalate also files one urgent "
        "task for a person, tagged escalation).")
    stalled_webhook_id: str | None = optional("STALLED_WEBHOOK_ID", _str,
                                              "Webhook for task.stalled messages of tasks "
                                              "without a sourceWebhookId.")
    audit_retention_days: int = setting("AUDIT_RETENTION_DAYS", "365", _int_in(0, 36500),
                                        "Audit entries older than this are pruned by the "
                                        "housekeeping job (0 keeps them all).")
    # --- Operations (CONTRACT §12)
    log_level: str = setting(
        "LOG_LEVEL", "INFO",
        _choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", upper=True),
        "DEBUG, INFO, WARNING, ERROR or CRITICAL; anything else stops the start (exit code 2).",
        section="Operations (CONTRACT §12)")
    log_format: str = setting("LOG_FORMAT", "text", _choice("text", "json"),
                              "text, or json: one JSON object a line with ts, level, logger, "
                              "msg and, where known, taskId, executionId, attempt, workerId, "
                              "requestId.")
    access_log: bool = setting("ACCESS_LOG", "false", _bool,
                               "One line per HTTP request (method, path without query, status, "
                               "duration, requestId).")
    metrics_public: bool = setting("METRICS_PUBLIC", "false", _bool,
                                   "GET /metrics without a key. Otherwise it needs a key with "
                                   "role viewer (or higher).")
    task_retention_days: int = setting(
        "TASK_RETENTION_DAYS", "0", _int_in(0, 36500),
        "Delete terminal tasks that ended more than this many days ago, with their executions, "
        "events, delivered/failed messages and artifacts (0 = keep forever). Runs every 10 "
        "minutes.")
    otel_endpoint: str | None = optional(
        "OTEL_EXPORTER_OTLP_ENDPOINT", _otel_endpoint,
        "OpenTelemetry tracing (needs `pip install errands[otel]`): a span per tRPC call and "
        "per attempt, traceparent on outbound HTTP. OTEL_SERVICE_NAME defaults to errands.",
        unset="off", example="http://127.0.0.1:4318")
    public_url: str | None = optional(
        "PUBLIC_URL", lambda _n, raw: raw.rstrip("/"),
        "The server's address as callers see it: trigger URLs, callback URLs and approval "
        "links are made from it.", unset="http://HOST:PORT",
        example="https://errands.example.com", section="Inbound (CONTRACT §16)")
    trigger_rate_limit: float = setting(
        "TRIGGER_RATE_LIMIT", "100", _float_in(0, 1_000_000),
        "Calls a second one trigger accepts (0: no limit); more are answered 429.")
    inbound_check_seconds: float = setting(
        "INBOUND_CHECK_SECONDS", "5", _float_in(0.1, 86400),
        "How often callback tasks past their timeout fail and expired reviews are rejected.")
    review_webhook_id: str | None = optional(
        "REVIEW_WEBHOOK_ID", _str,
        "Webhook that gets a review.requested message, with a fresh approval link, for each "
        "task entering awaiting_review.", unset="none sent")
    review_link_reviewer: str = setting(
        "REVIEW_LINK_REVIEWER", "review link", _str,
        "reviewedBy of the approval links sent in review.requested messages.")
    db_timeout_seconds: float = setting(
        "DB_TIMEOUT_SECONDS", "5", _float_in(0.1, 600),
        "PostgreSQL: pool wait, connect and each use of a connection together; past it a "
        "request answers 503 (SERVICE_UNAVAILABLE) instead of hanging through a network "
        "partition.", section="Faults (CONTRACT §13)")
    escalation_assignee: str | None = optional(
        "ESCALATION_ASSIGNEE", _str,
        "Who escalation tasks are assigned to (STALLED_ACTION=escalate).",
        unset="nobody (the task is for any person)", section="Escalation (CONTRACT §17)")
    review_separation: str = setting(
        "REVIEW_SEPARATION", "editor", _choice("editor", "creator", "off"),
        "Who may not approve a task: `editor`, the key that last changed its executionConfig; "
        "`creator`, that key and the one that created it; `off`, anyone may.",
        section="Trust (CONTRACT §13)")
    max_browser_steps: int = setting(
        "MAX_BROWSER_STEPS", "200", _int_in(1, 100_000), "Steps a browser task may have.")
    max_config_bytes: int = setting(
        "MAX_CONFIG_BYTES", "65536", _int_in(1024, 1 << 30),
        "Largest executionConfig, in bytes of its JSON encoding.")
    schedule_min_interval_seconds: int = setting(
        "SCHEDULE_MIN_INTERVAL_SECONDS", "60", _int_in(1, 86_400),
        "The closest two slots of a schedule's cron may come (1 allows every-second crons).")

    @property
    def base_url(self) -> str:
        """PUBLIC_URL, else ``http://HOST:PORT``."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def type_caps(self) -> dict[str, int]:
        """TYPE_CONCURRENCY over its defaults."""
        return {"browser_automation": self.browser_concurrency,
                "data_extraction": self.browser_concurrency, **self.type_concurrency}

    @staticmethod
    def variables() -> Iterator[tuple[str, Variable]]:
        """(attribute, variable) of every setting, in declaration order."""
        for f in fields(Settings):
            yield f.name, f.metadata["variable"]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 dotenv: Path | None = Path(".env")) -> Settings:
        env: dict[str, str | None] = dict(dotenv_values(dotenv, interpolate=False)
                                          if dotenv is not None and dotenv.is_file() else {})
        env.update(os.environ if environ is None else environ)
        kw: dict[str, Any] = {}
        for attr, var in cls.variables():
            raw = env.get(var.name)
            if raw:  # unset or empty: the default
                kw[attr] = var.parse(var.name, raw)
        settings = cls(**kw)
        if not settings.is_sqlite and settings.secret_key is None:
            raise ConfigurationError(
                "ERRANDS_SECRET_KEY must be set with PostgreSQL: every node needs the same key "
                "to read the webhook secrets the others stored")
        return settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# --- generated documentation (scripts/gen_config) --------------------------------------------

ENV_EXAMPLE = Path(".env.example")
MARKDOWN = Path("docs/configuration.md")


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, 98, initial_indent="# ", subsequent_indent="# ",
                         break_on_hyphens=False)


def env_example() -> str:
    """``.env.example``: every variable with its documentation and default."""
    lines = ["# Errands configuration: copy to .env (read at start); a variable set in the",
             "# environment wins, an empty value means the default. Generated from",
             "# server/core/settings.py by scripts/gen_config: edit the declarations there."]
    for _, var in Settings.variables():
        if var.section:
            lines += ["", f"# --- {var.section} " + "-" * (93 - len(var.section))]
        lines += ["", *_comment(var.doc)]
        if var.default:
            lines.append(f"{var.name}={var.default}")
        else:
            lines += _comment(f"Not set: {var.unset}.") if var.unset else []
            lines.append(f"# {var.name}={var.example}")
            continue
        if var.example:
            lines.append(f"# {var.name}={var.example}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "\\<")


def markdown() -> str:
    """``docs/configuration.md``: a table of every variable per section."""
    lines = ["# Configuration", "",
             "Errands reads its settings once at start from the environment and `.env` (a "
             "variable set in the environment wins; an empty value means the default). An "
             "invalid value stops the start with exit code 2 and a message naming the "
             "variable. `.env.example` lists them all.", "",
             "<!-- Generated from server/core/settings.py by scripts/gen_config; do not edit. -->"]
    for _, var in Settings.variables():
        if var.section:
            lines += ["", f"## {var.section}", "", "| Variable | Default | Meaning |",
                      "|---|---|---|"]
        default = f"`{var.default}`" if var.default else (var.unset or "not set")
        doc = var.doc + (f" Example: `{var.example}`." if var.example else "")
        lines.append(f"| `{var.name}` | {_cell(default)} | {_cell(doc)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/gen_config",
        description="Generate .env.example and docs/configuration.md from the declarations.")
    parser.add_argument("--write", action="store_true", help="write both files")
    parser.add_argument("--check", action="store_true", help="exit 1 if either is stale")
    parser.add_argument("--env-example", action="store_true", help="print .env.example")
    parser.add_argument("--markdown", action="store_true", help="print the markdown")
    args = parser.parse_args(argv)
    files = {ENV_EXAMPLE: env_example(), MARKDOWN: markdown()}
    if args.write:
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        stale = [str(p) for p, text in files.items()
                 if not p.is_file() or p.read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale: {', '.join(stale)} (run scripts/gen_config --write)", file=sys.stderr)
        return 1 if stale else 0
    sys.stdout.write(markdown() if args.markdown else env_example())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
