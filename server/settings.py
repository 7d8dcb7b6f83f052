"""Settings, read once at start from the environment and ``.env`` (the environment wins).

Every variable is documented in ``.env.example``. Invalid values stop the server at start with
a message naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
    shutdown_grace_seconds: float = 10.0
    max_batch_size: int = 100
    max_body_bytes: int = 1_048_576
    response_body_limit: int = 65_536
    sse_ping_seconds: float = 10.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: Path | None = Path(".env")
                 ) -> Settings:
        env: dict[str, str] = read_dotenv(dotenv) if dotenv is not None else {}
        env.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        kw: dict[str, object] = {}
        if (v := get("DATABASE_URL")) is not None:
            if not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
                raise ConfigurationError(
                    "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
                )
            kw["database_url"] = v
        if (v := get("HOST")) is not None:
            kw["host"] = v
        if (v := get("PORT")) is not None:
            kw["port"] = _int("PORT", v, 0, 65535)
        if (v := get("ERRANDS_API_KEYS")) is not None:
            kw["api_keys"] = parse_api_keys(v)
        if (v := get("WORKER_CONCURRENCY")) is not None:
            kw["worker_concurrency"] = _int("WORKER_CONCURRENCY", v, 1, 1024)
        if (v := get("REVIEW_REQUIRED_TYPES")) is not None:
            kw["review_required_types"] = frozenset(
                t.strip() for t in v.split(",") if t.strip()
            )
        if (v := get("ARTIFACTS_DIR")) is not None:
            kw["artifacts_dir"] = Path(v)
        if (v := get("ARTIFACT_RETENTION_DAYS")) is not None:
            kw["artifact_retention_days"] = _int("ARTIFACT_RETENTION_DAYS", v, 0, 3650)
        if (v := get("CHROMIUM_PATH")) is not None:
            kw["chromium_path"] = v
        if (v := get("BROWSER_CONCURRENCY")) is not None:
            kw["browser_concurrency"] = _int("BROWSER_CONCURRENCY", v, 1, 64)
        kw["ghl_api_key"] = get("GHL_API_KEY")
        kw["ghl_location_id"] = get("GHL_LOCATION_ID")
        if (v := get("GHL_BASE_URL")) is not None:
            kw["ghl_base_url"] = v.rstrip("/")
        if (v := get("GHL_RATE_LIMIT")) is not None:
            kw["ghl_rate_limit"] = _int("GHL_RATE_LIMIT", v, 1, 100_000)
        if (v := get("GHL_RATE_WINDOW_SECONDS")) is not None:
            kw["ghl_rate_window_seconds"] = _float("GHL_RATE_WINDOW_SECONDS", v, 0.1, 86400)
        if (v := get("ALLOW_PRIVATE_NETWORK")) is not None:
            kw["allow_private_network"] = _bool("ALLOW_PRIVATE_NETWORK", v)
        kw["secret_key"] = get("ERRANDS_SECRET_KEY")
        if (v := get("LEASE_SECONDS")) is not None:
            kw["lease_seconds"] = _float("LEASE_SECONDS", v, 1, 3600)
        if (v := get("SHUTDOWN_GRACE_SECONDS")) is not None:
            kw["shutdown_grace_seconds"] = _float("SHUTDOWN_GRACE_SECONDS", v, 0, 3600)
        if (v := get("MAX_BATCH_SIZE")) is not None:
            kw["max_batch_size"] = _int("MAX_BATCH_SIZE", v, 1, 10_000)
        if (v := get("MAX_BODY_BYTES")) is not None:
            kw["max_body_bytes"] = _int("MAX_BODY_BYTES", v, 1024, 1 << 30)
        if (v := get("RESPONSE_BODY_LIMIT")) is not None:
            kw["response_body_limit"] = _int("RESPONSE_BODY_LIMIT", v, 0, 1 << 30)
        if (v := get("SSE_PING_SECONDS")) is not None:
            kw["sse_ping_seconds"] = _float("SSE_PING_SECONDS", v, 0.05, 600)
        if (v := get("LOG_LEVEL")) is not None:
            kw["log_level"] = v.upper()
        return cls(**kw)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
