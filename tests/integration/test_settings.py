"""Settings.from_env: every variable's parsing, defaults, and the refusals that stop a start
(with exit code 2 and a message naming the variable)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from server.core import settings as settings_module
from server.core.errors import ConfigurationError
from server.core.settings import ApiKey, Settings

ROOT = Path(__file__).resolve().parents[2]


def load(**env: str) -> Settings:
    return Settings.from_env(env, dotenv=None)


def refused(**env: str) -> str:
    with pytest.raises(ConfigurationError) as info:
        load(**env)
    return str(info.value)


def test_defaults_without_any_variable() -> None:
    assert load() == Settings()
    s = load()
    assert (s.database_url, s.host, s.port) == ("sqlite+aiosqlite:///./errands.db",
                                                "127.0.0.1", 8000)
    assert (s.log_level, s.log_format, s.access_log) == ("INFO", "text", False)
    assert (s.metrics_public, s.task_retention_days) == (False, 0)


@pytest.mark.parametrize(("var", "raw", "attr", "value"), [
    ("DATABASE_URL", "postgresql+asyncpg://u@h/db", "database_url",
     "postgresql+asyncpg://u@h/db"),
    ("HOST", "0.0.0.0", "host", "0.0.0.0"),
    ("PORT", "8080", "port", 8080),
    ("WORKER_CONCURRENCY", "4", "worker_concurrency", 4),
    ("REVIEW_REQUIRED_TYPES", "api_call, ghl_action", "review_required_types",
     frozenset({"api_call", "ghl_action"})),
    ("ARTIFACTS_DIR", "/var/art", "artifacts_dir", Path("/var/art")),
    ("ARTIFACT_RETENTION_DAYS", "0", "artifact_retention_days", 0),
    ("CHROMIUM_PATH", "/opt/chrome", "chromium_path", "/opt/chrome"),
    ("BROWSER_CONCURRENCY", "2", "browser_concurrency", 2),
    ("GHL_API_KEY", "pit-123", "ghl_api_key", "pit-123"),
    ("GHL_LOCATION_ID", "loc1", "ghl_location_id", "loc1"),
    ("GHL_BASE_URL", "https://ghl.example/", "ghl_base_url", "https://ghl.example"),
    ("GHL_RATE_LIMIT", "50", "ghl_rate_limit", 50),
    ("GHL_RATE_WINDOW_SECONDS", "2.5", "ghl_rate_window_seconds", 2.5),
    ("ALLOW_PRIVATE_NETWORK", "yes", "allow_private_network", True),
    ("ERRANDS_SECRET_KEY", "k", "secret_key", "k"),
    ("LEASE_SECONDS", "12", "lease_seconds", 12.0),
    ("RETRY_BASE_SECONDS", "0.5", "retry_base_seconds", 0.5),
    ("SHUTDOWN_GRACE_SECONDS", "3", "shutdown_grace_seconds", 3.0),
    ("ALLOW_METHOD_OVERRIDE", "on", "allow_method_override", True),
    ("MAX_BATCH_SIZE", "10", "max_batch_size", 10),
    ("MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
    ("RESPONSE_BODY_LIMIT", "0", "response_body_limit", 0),
    ("SSE_PING_SECONDS", "1.5", "sse_ping_seconds", 1.5),
    ("DELIVERY_RETRY_SECONDS", "1, 2,3", "delivery_retry_seconds", (1.0, 2.0, 3.0)),
    ("DELIVERY_TIMEOUT_SECONDS", "4", "delivery_timeout_seconds", 4.0),
    ("SECRET_KEY_FILE", "/k/file", "secret_key_file", Path("/k/file")),
    ("LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("LOG_FORMAT", "JSON", "log_format", "json"),
    ("ACCESS_LOG", "true", "access_log", True),
    ("METRICS_PUBLIC", "1", "metrics_public", True),
    ("TASK_RETENTION_DAYS", "30", "task_retention_days", 30),
])
def test_each_variable_is_parsed(var: str, raw: str, attr: str, value: Any) -> None:
    env = {var: raw}
    if var == "DATABASE_URL":
        env["ERRANDS_SECRET_KEY"] = "shared"
    assert getattr(load(**env), attr) == value


def test_api_keys_are_parsed_and_never_printed() -> None:
    s = load(ERRANDS_API_KEYS="ops:viewer:abc123, boss:admin:xyz789")
    assert s.api_keys == (ApiKey("ops", "viewer", "abc123"), ApiKey("boss", "admin", "xyz789"))
    assert "abc123" not in repr(s) and "xyz789" not in repr(s)


@pytest.mark.parametrize("raw", [
    "ops:viewer:k1,s3cr3t-without-colons", "ops:viewer:k1, s3cr3t-in-role:s3cr3t:x",
    "ops:viewer:k1,s3cr3t:s3cr3t"])
def test_a_malformed_key_item_is_named_by_position_never_quoted(raw: str) -> None:
    message = refused(ERRANDS_API_KEYS=raw)
    assert "item 2 of 2" in message
    assert "s3cr3t" not in message and "k1" not in message


def test_trust_settings_defaults() -> None:
    s = Settings()
    assert (s.review_separation, s.max_browser_steps, s.max_config_bytes,
            s.schedule_min_interval_seconds) == ("editor", 200, 65_536, 60)
    assert load(REVIEW_SEPARATION="creator").review_separation == "creator"


def test_empty_values_mean_the_default() -> None:
    assert load(PORT="", LOG_LEVEL="", REVIEW_REQUIRED_TYPES="") == Settings()


@pytest.mark.parametrize(("var", "raw", "named"), [
    ("PORT", "eighty", "PORT must be a whole number"),
    ("PORT", "70000", "PORT must be between 0 and 65535"),
    ("WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY must be between"),
    ("LEASE_SECONDS", "soon", "LEASE_SECONDS must be a number"),
    ("ALLOW_PRIVATE_NETWORK", "maybe", "ALLOW_PRIVATE_NETWORK must be true or false"),
    ("DATABASE_URL", "mysql://x", "DATABASE_URL must start with"),
    ("ERRANDS_API_KEYS", "nocolons", "ERRANDS_API_KEYS item 1 of 1 does not look like"),
    ("ERRANDS_API_KEYS", "a:root:k", "item 1 of 1 has an unknown role"),
    ("REVIEW_SEPARATION", "nobody", "REVIEW_SEPARATION must be one of editor, creator, off"),
    ("MAX_BROWSER_STEPS", "0", "MAX_BROWSER_STEPS must be between"),
    ("MAX_CONFIG_BYTES", "many", "MAX_CONFIG_BYTES must be a whole number"),
    ("SCHEDULE_MIN_INTERVAL_SECONDS", "0", "SCHEDULE_MIN_INTERVAL_SECONDS must be between"),
    ("DELIVERY_RETRY_SECONDS", "5,x", "DELIVERY_RETRY_SECONDS must be comma-separated"),
    ("DELIVERY_RETRY_SECONDS", "-1", "DELIVERY_RETRY_SECONDS: at most 50 delays"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json"),
    ("ACCESS_LOG", "sometimes", "ACCESS_LOG must be true or false"),
    ("METRICS_PUBLIC", "2", "METRICS_PUBLIC must be true or false"),
    ("TASK_RETENTION_DAYS", "-1", "TASK_RETENTION_DAYS must be between 0 and 36500"),
    ("REVIEW_REQUIRED_TYPES", "api_call,fax", "REVIEW_REQUIRED_TYPES: unknown task type 'fax'"),
])
def test_bad_values_are_refused_naming_the_variable(var: str, raw: str, named: str) -> None:
    assert named in refused(**{var: raw})


def test_postgresql_needs_a_shared_secret_key() -> None:
    message = refused(DATABASE_URL="postgresql+asyncpg://u@h/db")
    assert "ERRANDS_SECRET_KEY" in message
    assert load(DATABASE_URL="postgresql+asyncpg://u@h/db", ERRANDS_SECRET_KEY="k").secret_key


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nexport PORT=9000\nLOG_FORMAT='json'\nHOST=\"0.0.0.0\"\n")
    s = Settings.from_env({"PORT": "9100"}, dotenv=dotenv)
    assert (s.port, s.log_format, s.host) == (9100, "json", "0.0.0.0")


@pytest.mark.parametrize(("env", "named"), [
    ({"REVIEW_REQUIRED_TYPES": "faxing"}, "REVIEW_REQUIRED_TYPES"),
    ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
    ({"DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/none"}, "ERRANDS_SECRET_KEY"),
])
def test_the_server_refuses_to_start_with_exit_code_2(env: dict[str, str], named: str,
                                                      tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "server"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                      "PYTHONPATH": str(ROOT), **env})
    assert proc.returncode == 2, proc.stderr
    assert named in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dotenv_values_are_taken_literally(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("GHL_LOCATION_ID=${HOME}x\nNODE_ID=\nCHROMIUM_PATH\n")
    s = Settings.from_env({}, dotenv=dotenv)
    assert (s.ghl_location_id, s.node_id, s.chromium_path) == ("${HOME}x", None, None)


def test_an_empty_variable_in_the_environment_means_the_default_over_dotenv(
        tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=9000\n")
    assert Settings.from_env({"PORT": ""}, dotenv=dotenv).port == 8000
    assert Settings.from_env({}, dotenv=tmp_path / "missing.env").port == 8000


# Every variable the server has read since before settings were declared in one place: a
# rename would break operators' .env files.
VARIABLES = {
    "DATABASE_URL", "HOST", "PORT", "ERRANDS_API_KEYS", "WORKER_CONCURRENCY",
    "REVIEW_REQUIRED_TYPES", "ARTIFACTS_DIR", "ARTIFACT_RETENTION_DAYS", "CHROMIUM_PATH",
    "BROWSER_CONCURRENCY", "GHL_API_KEY", "GHL_LOCATION_ID", "GHL_BASE_URL", "GHL_RATE_LIMIT",
    "GHL_RATE_WINDOW_SECONDS", "ALLOW_PRIVATE_NETWORK", "ERRANDS_SECRET_KEY", "LEASE_SECONDS",
    "RETRY_BASE_SECONDS", "SHUTDOWN_GRACE_SECONDS", "ALLOW_METHOD_OVERRIDE", "MAX_BATCH_SIZE",
    "MAX_BODY_BYTES", "RESPONSE_BODY_LIMIT", "SSE_PING_SECONDS", "DELIVERY_RETRY_SECONDS",
    "DELIVERY_TIMEOUT_SECONDS", "SECRET_KEY_FILE", "LOG_LEVEL", "LOG_FORMAT", "ACCESS_LOG",
    "METRICS_PUBLIC", "TASK_RETENTION_DAYS", "STALLED_AFTER", "STALLED_CHECK_SECONDS",
    "STALLED_ACTION", "STALLED_WEBHOOK_ID", "AUDIT_RETENTION_DAYS", "TYPE_CONCURRENCY",
    "HOST_CONCURRENCY", "MAX_LOST_ATTEMPTS", "NODE_ID", "OTEL_EXPORTER_OTLP_ENDPOINT",
}


def test_every_field_is_declared_once_with_its_variable() -> None:
    declared = list(Settings.variables())
    assert [attr for attr, _ in declared] == [f.name for f in fields(Settings)]
    names = [var.name for _, var in declared]
    assert len(names) == len(set(names))
    assert VARIABLES <= set(names)
    for attr, var in declared:
        assert var.doc and var.doc[-1] == ".", var.name
        if var.default:  # the default, as written in the environment, is the field's default
            assert var.parse(var.name, var.default) == getattr(Settings(), attr), var.name


def test_secrets_are_left_out_of_repr() -> None:
    s = load(GHL_API_KEY="pit-secret-1", ERRANDS_SECRET_KEY="secret-key-2")
    assert "pit-secret-1" not in repr(s) and "secret-key-2" not in repr(s)
    assert {var.name for _, var in Settings.variables() if var.secret} == {
        "GHL_API_KEY", "ERRANDS_SECRET_KEY"}


def test_the_committed_env_example_and_configuration_table_are_generated() -> None:
    """scripts/gen_config --write makes them; here they must match the declarations."""
    assert (ROOT / ".env.example").read_text() == settings_module.env_example()
    assert (ROOT / "docs" / "configuration.md").read_text() == settings_module.markdown()
    proc = subprocess.run([str(ROOT / "scripts" / "gen_config"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_env_example_and_the_table_show_every_variable_and_default() -> None:
    example, table = settings_module.env_example(), settings_module.markdown()
    for _, var in Settings.variables():
        line = f"{var.name}={var.default}" if var.default else f"# {var.name}={var.example}"
        assert line + "\n" in example, var.name
        assert f"| `{var.name}` |" in table, var.name
    assert "DELIVERY_RETRY_SECONDS=5,30,120,600,2700\n" in example
    assert "STALLED_AFTER=pending=24h,awaiting_review=8h,queued=10m,scheduled=10m\n" in example


def test_the_example_env_file_loads_as_the_defaults(tmp_path: Path) -> None:
    assert Settings.from_env({}, dotenv=ROOT / ".env.example") == Settings()
