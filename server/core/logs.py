"""Logging: ``LOG_FORMAT=text|json``, and the context every line carries where known.

The context lives in :mod:`contextvars`: the runner sets ``taskId``, ``executionId``,
``attempt`` and ``workerId`` around an attempt (each attempt is its own asyncio task, so they
never leak to another), the HTTP layer sets ``requestId`` per request. Both formatters add
them; a JSON line is ``{"ts", "level", "logger", "msg", ...context, "exc"?}``.

Nothing here adds secrets: the line is the message the code logged, and messages never
carry keys or tokens (executors log ids, never configs).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS: Final = ("text", "json")

# Field name on the wire (JSON key) -> its context variable.
_FIELDS: Final[dict[str, ContextVar[Any]]] = {
    "taskId": ContextVar("taskId", default=None),
    "executionId": ContextVar("executionId", default=None),
    "attempt": ContextVar("attempt", default=None),
    "workerId": ContextVar("workerId", default=None),
    "requestId": ContextVar("requestId", default=None),
}
request_id_var: Final = _FIELDS["requestId"]


def bind(**fields: Any) -> None:
    """Set context fields (``taskId=...``) for the rest of the current asyncio task."""
    for name, value in fields.items():
        _FIELDS[name].set(value)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Set context fields for a block, restoring them afterwards."""
    tokens = [(_FIELDS[name], _FIELDS[name].set(value)) for name, value in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current() -> dict[str, Any]:
    """The context fields that are set now."""
    return {name: value for name, var in _FIELDS.items() if (value := var.get()) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(current())
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            line.update(extra)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return msgspec.json.encode(line).decode()


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: message [taskId=.. requestId=..]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = current()
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            fields.update(extra)
        if not fields:
            return text
        head, sep, tail = text.partition("\n")  # keep a traceback below the context
        context = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{head} [{context}]{sep}{tail}"


def _not_an_outage(record: logging.LogRecord) -> bool:
    """Drops a failure whose cause is the database not answering or storage refusing writes:
    the database reports each such period once, as a warning (server/db/engine.Faults), and
    every loop that meets it retries; a traceback a second would only bury that warning."""
    import sqlalchemy.exc as sa_exc

    from server.core.errors import DatabaseTimeout, database_unavailable, storage_unavailable

    exc = record.exc_info[1] if record.exc_info else None
    if not isinstance(exc, sa_exc.SQLAlchemyError | DatabaseTimeout):
        return True
    return not (database_unavailable(exc) or storage_unavailable(exc))


def configure(level: str, fmt: str) -> None:
    """Install one stderr handler on the root logger with the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_not_an_outage)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "errands", False):
            root.removeHandler(old)
    handler.errands = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO: noisy, and lookups carry emails and phone numbers.
    for noisy in ("apscheduler", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
