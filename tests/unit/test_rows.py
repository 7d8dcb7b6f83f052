"""The typed row Protocols (server/db/rows.py) list exactly their table's columns, and a column
may be None exactly when the table lets it be NULL."""

from __future__ import annotations

import types
import typing

import pytest
import sqlalchemy as sa

from server.db import tables
from server.db.rows import ExecutionRow, TaskRow


def _members(protocol: type) -> dict[str, object]:
    return {name: typing.get_type_hints(value.fget)["return"]
            for name, value in vars(protocol).items() if isinstance(value, property)}


def _optional(hint: object) -> bool:
    return hint is typing.Any or (isinstance(hint, types.UnionType)
                                  and type(None) in typing.get_args(hint))


@pytest.mark.parametrize(("protocol", "table"), [(TaskRow, tables.tasks),
                                                 (ExecutionRow, tables.task_executions)],
                         ids=["tasks", "task_executions"])
def test_row_protocol_matches_its_table(protocol: type, table: sa.Table) -> None:
    members = _members(protocol)
    assert list(members) == [c.name for c in table.columns]
    for column in table.columns:
        hint = members[column.name]
        if hint is not typing.Any:  # JSON columns: any value
            assert _optional(hint) is column.nullable, column.name
