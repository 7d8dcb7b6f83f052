"""Settings, read once at start from the environment and ``.env`` (the environment wins).

Every variable is documented in ``.env.example``. Invalid values stop the server at start with
a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from server.errors import ConfigurationError

ROLES = ("admin", "operator", "reviewer", "viewer")


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    key: str

    def __repr__(self) -> str:  # never print the key itself
        return f"ApiKey(name={self.name!r}, role={self.role!r})"


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines; ``#`` comments, blank lines, optional quotes, ``export``."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


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
    """``name:role:key`` items, comma-separated."""
    keys: list[ApiKey] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep1, rest = item.partition(":")
        role, sep2, key = rest.partition(":")
        if not (sep1 and sep2 and name and key):
            raise ConfigurationError(
                "ERRANDS_API_KEYS items must look like name:role:key "
                f"(item starting {item[:len(name)]!r} does not)"
            )
        if role not in ROLES:
            raise ConfigurationError(
                f"ERRANDS_API_KEYS: key {name!r} has unknown role {role!r} "
                f"(roles: {', '.join(ROLES)})"
            )
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
    from server import tracing

    if not tracing.available():
        raise ConfigurationError(f"{name} is set but the OpenTelemetry packages are not "
                                 f"installed: {tracing.INSTALL_HINT} (or unset {name})")
    return raw


# (variable, Settings attribute, parser); GHL_API_KEY and ERRANDS_SECRET_KEY are read apart.
_VARIABLES: tuple[tuple[str, str, Callable[[str, str], object]], ...] = (
    ("DATABASE_URL", "database_url", _database_url),
    ("HOST", "host", _str),
    ("PORT", "port", _int_in(0, 65535)),
    ("ERRANDS_API_KEYS", "api_keys", lambda _n, raw: parse_api_keys(raw)),
    ("WORKER_CONCURRENCY", "worker_concurrency", _int_in(1, 1024)),
    ("REVIEW_REQUIRED_TYPES", "review_required_types", _type_set),
    ("ARTIFACTS_DIR", "artifacts_dir", lambda _n, raw: Path(raw)),
    ("ARTIFACT_RETENTION_DAYS", "artifact_retention_days", _int_in(0, 3650)),
    ("CHROMIUM_PATH", "chromium_path", _str),
    ("BROWSER_CONCURRENCY", "browser_concurrency", _int_in(1, 64)),
    ("GHL_LOCATION_ID", "ghl_location_id", _str),
    ("GHL_BASE_URL", "ghl_base_url", lambda _n, raw: raw.rstrip("/")),
    ("GHL_RATE_LIMIT", "ghl_rate_limit", _int_in(1, 100_000)),
    ("GHL_RATE_WINDOW_SECONDS", "ghl_rate_window_seconds", _float_in(0.1, 86400)),
    ("ALLOW_PRIVATE_NETWORK", "allow_private_network", _bool),
    ("LEASE_SECONDS", "lease_seconds", _float_in(1, 3600)),
    ("RETRY_BASE_SECONDS", "retry_base_seconds", _float_in(0.01, 3600)),
    ("SHUTDOWN_GRACE_SECONDS", "shutdown_grace_seconds", _float_in(0, 3600)),
    ("ALLOW_METHOD_OVERRIDE", "allow_method_override", _bool),
    ("MAX_BATCH_SIZE", "max_batch_size", _int_in(1, 10_000)),
    ("MAX_BODY_BYTES", "max_body_bytes", _int_in(1024, 1 << 30)),
    ("RESPONSE_BODY_LIMIT", "response_body_limit", _int_in(0, 1 << 30)),
    ("SSE_PING_SECONDS", "sse_ping_seconds", _float_in(0.05, 600)),
    ("DELIVERY_RETRY_SECONDS", "delivery_retry_seconds", _delays),
    ("DELIVERY_TIMEOUT_SECONDS", "delivery_timeout_seconds", _float_in(0.1, 600)),
    ("SECRET_KEY_FILE", "secret_key_file", lambda _n, raw: Path(raw)),
    ("LOG_LEVEL", "log_level", _choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL",
                                       upper=True)),
    # Operations (CONTRACT §12)
    ("LOG_FORMAT", "log_format", _choice("text", "json")),
    ("ACCESS_LOG", "access_log", _bool),
    ("METRICS_PUBLIC", "metrics_public", _bool),
    ("TASK_RETENTION_DAYS", "task_retention_days", _int_in(0, 36500)),
    ("STALLED_AFTER", "stalled_after", _stalled_after),
    ("STALLED_CHECK_SECONDS", "stalled_check_seconds", _float_in(0.1, 86400)),
    ("STALLED_ACTION", "stalled_action", _stalled_action),
    ("STALLED_WEBHOOK_ID", "stalled_webhook_id", _str),
    ("ESCALATION_ASSIGNEE", "escalation_assignee", _str),
    ("AUDIT_RETENTION_DAYS", "audit_retention_days", _int_in(0, 36500)),
    ("TYPE_CONCURRENCY", "type_concurrency", parse_type_caps),
    ("HOST_CONCURRENCY", "host_concurrency", _int_in(1, 1024)),
    ("MAX_LOST_ATTEMPTS", "max_lost_attempts", _int_in(1, 1000)),
    ("NODE_ID", "node_id", lambda name, raw: _node_id(name, raw)),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "otel_endpoint", _otel_endpoint),
)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./errands.db"
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: tuple[ApiKey, ...] = ()
    worker_concurrency: int = 16
    review_required_types: frozenset[str] = frozenset()
    artifacts_dir: Path = Path("./artifacts")
    artifact_retention_days: int = 14
    chromium_path: str | None = None
    browser_concurrency: int = 4
    ghl_api_key: str | None = field(default=None, repr=False)
    ghl_location_id: str | None = None
    ghl_base_url: str = "https://services.leadconnectorhq.com"
    ghl_rate_limit: int = 100
    ghl_rate_window_seconds: float = 10.0
    allow_private_network: bool = False
    secret_key: str | None = field(default=None, repr=False)
    lease_seconds: float = 30.0
    retry_base_seconds: float = 2.0
    shutdown_grace_seconds: float = 10.0
    max_batch_size: int = 100
    allow_method_override: bool = False
    max_body_bytes: int = 1_048_576
    response_body_limit: int = 65_536
    sse_ping_seconds: float = 10.0
    log_level: str = "INFO"
    # Webhook delivery: waits before retries 2..n (6 tries over about an hour by default).
    delivery_retry_seconds: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 2700.0)
    delivery_timeout_seconds: float = 10.0
    # Where the generated key lives when ERRANDS_SECRET_KEY is not set (default: next to the
    # SQLite database, or ./errands-secret.key for PostgreSQL).
    secret_key_file: Path | None = None
    # Workflows (CONTRACT §10): stalled work and the audit log's retention (0 keeps all).
    stalled_after: dict[str, timedelta] = field(
        default_factory=lambda: dict(DEFAULT_STALLED_AFTER))
    stalled_check_seconds: float = 60.0
    stalled_action: str = "mark"
    stalled_webhook_id: str | None = None
    # STALLED_ACTION=escalate (CONTRACT §17): who the escalation tasks are assigned to.
    escalation_assignee: str | None = None
    audit_retention_days: int = 365
    # Operations (CONTRACT §12)
    log_format: str = "text"
    access_log: bool = False
    metrics_public: bool = False
    task_retention_days: int = 0  # 0: keep terminal tasks forever
    # Claim caps (per process). TYPE_CONCURRENCY entries replace these defaults type by type;
    # browser_automation and data_extraction default to BROWSER_CONCURRENCY.
    type_concurrency: dict[str, int] = field(default_factory=dict)
    host_concurrency: int = 4
    # Lost attempts in a row (the worker died under them) that end a task as failed.
    max_lost_attempts: int = 5
    # This node's stable identity (lease owner); default "<hostname>:<PORT>".
    node_id: str | None = None
    # OpenTelemetry tracing (server/tracing.py): on when set; needs `pip install errands[otel]`.
    otel_endpoint: str | None = None

    @property
    def type_caps(self) -> dict[str, int]:
        """TYPE_CONCURRENCY over its defaults."""
        return {"browser_automation": self.browser_concurrency,
                "data_extraction": self.browser_concurrency, **self.type_concurrency}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: Path | None = Path(".env")
                 ) -> Settings:
        env: dict[str, str] = read_dotenv(dotenv) if dotenv is not None else {}
        env.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        kw: dict[str, object] = {}
        for var, attr, parse in _VARIABLES:
            raw = get(var)
            if raw is not None:
                kw[attr] = parse(var, raw)
        for var, attr in (("GHL_API_KEY", "ghl_api_key"), ("ERRANDS_SECRET_KEY", "secret_key")):
            kw[attr] = get(var)
        settings = cls(**kw)  # type: ignore[arg-type]
        if not settings.is_sqlite and settings.secret_key is None:
            raise ConfigurationError(
                "ERRANDS_SECRET_KEY must be set with PostgreSQL: every node needs the same key "
                "to read the webhook secrets the others stored")
        return settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
