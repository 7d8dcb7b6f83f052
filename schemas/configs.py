"""Execution configs, one Struct per taskType (docs/CONTRACT.md §5), and the task types.

``TASK_TYPES`` declares each taskType once (:class:`TaskTypeSpec`: its config Struct, executor,
label, default timeout, secret fields, destination); ``CONFIG_TYPES``, ``SECRET_FIELDS`` and
``DEFAULT_TIMEOUT_SECONDS`` are views of it, and ``TaskType`` (schemas/task_type.py) is
generated from it. ``tasks.create`` decodes ``executionConfig`` with ``msgspec.convert`` into
the type's Struct (so wrong types and unknown fields are named by path), then asks the
executor's ``check`` for the rules msgspec cannot express. Adding a type: its executor module,
its entry here, its tests, then ``scripts/regen``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

import msgspec

from schemas.base import Input, NonEmptyStr, Timestamp
from schemas.task_type import CreatableTaskType as CreatableTaskType  # generated from TASK_TYPES
from schemas.task_type import TaskType as TaskType

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
AuthType = Literal["none", "bearer", "api_key", "basic", "connection"]
# A connection's name (CONTRACT §14), as connections.create takes it.
ConnectionRef = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_.-]{1,60}$")]
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
    connection: ConnectionRef | None = None  # with authType "connection"


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
    connection: ConnectionRef | None = None  # a connection of kind ghl (CONTRACT §14)


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
    #: Cover this client's tasks only (else the task's own client's, else every task).
    client_id: NonEmptyStr | None = None


MASK: Final[str] = "********"


# --- the task types -----------------------------------------------------------------------

def _api_call_url(config: Mapping[str, Any]) -> object:
    return config.get("apiEndpoint")


def _browser_url(config: Mapping[str, Any]) -> object:
    """``startUrl``, else the first ``navigate`` step's url."""
    url = config.get("startUrl")
    if url:
        return url
    steps = config.get("steps")
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict) and step.get("action") == "navigate":
            return step.get("url")
    return url


def _extraction_url(config: Mapping[str, Any]) -> object:
    return config.get("url")


class CallbackConfig(Input):
    """No executor: the task waits ``pending`` until its callback URL is called (§16)."""

    timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=2_592_000)] = 86_400
    expects: str | None = None


class GroupConfig(Input):
    """No executor and no config: a group's status follows its subtasks' (CONTRACT §17)."""


@dataclass(frozen=True)
class TaskTypeSpec:
    """Everything the server, the clients and the console know of one taskType."""

    name: str
    #: The Struct ``executionConfig`` decodes to (``tasks.create`` and the runner).
    config: type[msgspec.Struct]
    #: Its executor class, ``"module:Class"``; the class's ``build(resources)`` makes it
    #: (executors/registry.py). None: no executor runs it (a ``callback`` waits for its call,
    #: a ``group`` for its subtasks).
    executor: str | None
    #: The console's name for the type (web/src/taskTypes.ts, generated).
    label: str
    #: The attempt deadline (seconds) when ``timeoutSeconds`` is not given.
    timeout_seconds: int
    #: Wire names (camelCase) of the config's fields that are secrets: never returned (they
    #: read ``MASK``); every other masking rule is in ``schemas/secrets.py``.
    secret_fields: frozenset[str] = frozenset()
    #: The URL the task sends its requests to, from the wire form of ``executionConfig``
    #: (the claim's per-host cap, server/core/claims.py); ``None``: the type has no destination.
    destination: Callable[[Mapping[str, Any]], object] | None = None
    #: ``tasks.create`` (and schedules, triggers, duplicates) files it: ``CreatableTaskType``
    #: lists those. A ``group`` is made by ``tasks.createGroup`` only.
    creatable: bool = True


def _by_name(*specs: TaskTypeSpec) -> Mapping[str, TaskTypeSpec]:
    return MappingProxyType({spec.name: spec for spec in specs})


#: The one declaration of each taskType. ``TaskType`` (schemas/task_type.py), the console's
#: labels (web/src/taskTypes.ts) and the clients are generated from it: ``scripts/regen``.
TASK_TYPES: Final[Mapping[str, TaskTypeSpec]] = _by_name(
    TaskTypeSpec("browser_automation", BrowserAutomationConfig,
                 "executors.browser:BrowserAutomationExecutor", "Browser automation", 300,
                 destination=_browser_url),
    TaskTypeSpec("api_call", ApiCallConfig, "executors.api_call:ApiCallExecutor", "API call", 60,
                 secret_fields=frozenset({"bearerToken", "apiKey", "basicPassword"}),
                 destination=_api_call_url),
    TaskTypeSpec("ghl_action", GhlActionConfig, "executors.ghl:GhlExecutor",
                 "GoHighLevel action", 60),
    TaskTypeSpec("notification", NotificationConfig,
                 "executors.notification:NotificationExecutor", "Notification", 60),
    TaskTypeSpec("reminder", ReminderConfig, "executors.reminder:ReminderExecutor", "Reminder",
                 30),
    TaskTypeSpec("data_extraction", DataExtractionConfig,
                 "executors.extraction:DataExtractionExecutor", "Data extraction", 120,
                 destination=_extraction_url),
    TaskTypeSpec("report_generation", ReportConfig, "executors.report:ReportExecutor", "Report",
                 120),
    TaskTypeSpec("callback", CallbackConfig, None, "Callback", 86_400),
    # tasks.createGroup only; the runner never claims it (it is never queued).
    TaskTypeSpec("group", GroupConfig, None, "Group", 86_400, creatable=False),
)

# Views of TASK_TYPES by name.
CONFIG_TYPES: Final[Mapping[str, type[msgspec.Struct]]] = {
    name: spec.config for name, spec in TASK_TYPES.items()}
SECRET_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    name: spec.secret_fields for name, spec in TASK_TYPES.items() if spec.secret_fields}
DEFAULT_TIMEOUT_SECONDS: Final[Mapping[str, int]] = {
    name: spec.timeout_seconds for name, spec in TASK_TYPES.items()}
