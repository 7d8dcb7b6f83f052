"""Execution configs, one Struct per taskType (docs/CONTRACT.md §5).

``CONFIG_TYPES`` maps a taskType to its Struct. ``tasks.create`` decodes ``executionConfig``
with ``msgspec.convert`` into that Struct (so wrong types and unknown fields are named by
path), then asks :func:`config_problems` for the rules msgspec cannot express.
``SECRET_FIELDS`` lists the fields that are never returned (they read ``"********"``); every
other masking rule is in ``schemas/secrets.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

from schemas.base import Input, NonEmptyStr, Timestamp

TaskType = Literal[
    "browser_automation",
    "api_call",
    "ghl_action",
    "notification",
    "reminder",
    "data_extraction",
    "report_generation",
    "callback",
]
TASK_TYPES: Final[tuple[str, ...]] = (
    "browser_automation",
    "api_call",
    "ghl_action",
    "notification",
    "reminder",
    "data_extraction",
    "report_generation",
    "callback",
)

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
AuthType = Literal["none", "bearer", "api_key", "basic"]
Scalar = str | int | float | bool


class ApiCallConfig(Input):
    api_endpoint: NonEmptyStr
    api_method: HttpMethod = "GET"
    auth_type: AuthType = "none"
    bearer_token: str | None = None
    api_key_header: NonEmptyStr = "X-API-Key"
    api_key: str | None = None
    basic_username: str | None = None
    basic_password: str | None = None
    headers: dict[str, str] | None = None
    query: dict[str, Scalar | list[Scalar]] | None = None
    body: Any = None
    content_type: str | None = None
    timeout_ms: Annotated[int, msgspec.Meta(ge=1, le=600_000)] = 30_000
    expect_status: list[Annotated[int, msgspec.Meta(ge=100, le=599)]] | None = None


# --- browser_automation -------------------------------------------------------------------

class Viewport(Input):
    width: Annotated[int, msgspec.Meta(ge=100, le=7680)]
    height: Annotated[int, msgspec.Meta(ge=100, le=4320)]


class NavigateStep(Input, tag_field="action", tag="navigate"):
    url: NonEmptyStr


class ClickStep(Input, tag_field="action", tag="click"):
    selector: NonEmptyStr


class TypeStep(Input, tag_field="action", tag="type"):
    selector: NonEmptyStr
    text: str
    press_enter: bool = False
    #: The text is a secret: masked wherever the config is shown, never traced. Typing into
    #: a password field (by selector, or an element of type password) is secret anyway.
    secret: bool = False


class WaitStep(Input, tag_field="action", tag="wait"):
    selector: str | None = None
    ms: Annotated[int, msgspec.Meta(ge=0, le=600_000)] | None = None
    state: Literal["load", "domcontentloaded", "networkidle", "visible", "hidden",
                   "attached", "detached"] | None = None


class ExtractStep(Input, tag_field="action", tag="extract"):
    name: NonEmptyStr
    selector: NonEmptyStr
    attribute: str | None = None
    all: bool = False


class ScreenshotStep(Input, tag_field="action", tag="screenshot"):
    name: str | None = None
    full_page: bool = False


Step = NavigateStep | ClickStep | TypeStep | WaitStep | ExtractStep | ScreenshotStep


class BrowserAutomationConfig(Input):
    steps: list[Step]
    start_url: str | None = None
    viewport: Viewport | None = None
    step_timeout_ms: Annotated[int, msgspec.Meta(ge=1, le=600_000)] = 15_000
    record_trace: bool = False


# --- data_extraction ----------------------------------------------------------------------

FieldType = Literal["text", "attribute", "html", "number", "list", "nested"]


class ExtractionField(Input):
    name: NonEmptyStr
    selector: NonEmptyStr
    type: FieldType = "text"
    attribute: str | None = None
    fields: list[ExtractionField] | None = None


class ExtractionSchema(Input):
    fields: list[ExtractionField]
    base_selector: str | None = None


class DataExtractionConfig(Input):
    url: NonEmptyStr
    schema: ExtractionSchema
    wait_for: str | None = None


# --- ghl_action ---------------------------------------------------------------------------

GhlAction = Literal["add_contact", "update_contact", "send_sms", "create_opportunity", "add_tag"]


class GhlCustomField(Input):
    id: NonEmptyStr
    field_value: Any = msgspec.field(default=None, name="field_value")


class GhlActionConfig(Input):
    ghl_action: GhlAction
    location_id: str | None = None
    contact_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    tags: list[str] | None = None
    message: str | None = None
    pipeline_id: str | None = None
    pipeline_stage_id: str | None = None
    name: str | None = None
    monetary_value: float | None = None
    status: Literal["open", "won", "lost", "abandoned"] | None = None
    custom_fields: list[GhlCustomField] | None = None


# --- notification / reminder / report -----------------------------------------------------

class NotificationConfig(Input):
    message: NonEmptyStr
    recipient: str | None = None
    subject: str | None = None
    webhook_id: str | None = None


class ReminderConfig(Input):
    message: NonEmptyStr
    remind_at: Timestamp | None = None
    delay_seconds: Annotated[int, msgspec.Meta(ge=0, le=366 * 86400)] | None = None
    recipient: str | None = None
    subject: str | None = None
    webhook_id: str | None = None


ReportType = Literal["task_summary", "execution_stats", "webhook_activity"]


class ReportConfig(Input):
    report_type: ReportType
    date_from: Timestamp | None = None
    date_to: Timestamp | None = None
    notify: bool = False
    webhook_id: str | None = None


class CallbackConfig(Input):
    """No executor: the task waits ``pending`` until its callback URL is called (§16)."""

    timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=2_592_000)] = 86_400
    expects: str | None = None


ExecutionConfig = (
    ApiCallConfig | BrowserAutomationConfig | DataExtractionConfig | GhlActionConfig
    | NotificationConfig | ReminderConfig | ReportConfig | CallbackConfig
)

CONFIG_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    "api_call": ApiCallConfig,
    "browser_automation": BrowserAutomationConfig,
    "data_extraction": DataExtractionConfig,
    "ghl_action": GhlActionConfig,
    "notification": NotificationConfig,
    "reminder": ReminderConfig,
    "report_generation": ReportConfig,
    "callback": CallbackConfig,
}

# Wire names (camelCase) of fields that are secrets, by taskType.
SECRET_FIELDS: Final[dict[str, frozenset[str]]] = {
    "api_call": frozenset({"bearerToken", "apiKey", "basicPassword"}),
}
MASK: Final[str] = "********"

# Default attempt deadline (seconds) by taskType when timeoutSeconds is not given.
DEFAULT_TIMEOUT_SECONDS: Final[dict[str, int]] = {
    "api_call": 60,
    "browser_automation": 300,
    "data_extraction": 120,
    "ghl_action": 60,
    "notification": 60,
    "reminder": 30,
    "report_generation": 120,
    "callback": 86_400,
}
