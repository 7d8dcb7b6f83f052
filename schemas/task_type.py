"""The taskType names: generated from ``schemas.configs.TASK_TYPES``. DO NOT EDIT.

Regenerate with ``scripts/regen``; import ``TaskType`` from ``schemas.configs``.
"""

from typing import Literal

TaskType = Literal[
    "browser_automation",
    "api_call",
    "ghl_action",
    "notification",
    "reminder",
    "data_extraction",
    "report_generation",
    "callback",
    "group",
]

# The types tasks.create files (a group is made by tasks.createGroup).
CreatableTaskType = Literal[
    "browser_automation",
    "api_call",
    "ghl_action",
    "notification",
    "reminder",
    "data_extraction",
    "report_generation",
    "callback",
]
