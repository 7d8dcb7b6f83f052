"""{{dep.N.path}} placeholders: checked at create/update, resolved when an attempt starts."""

from __future__ import annotations

from typing import Any

import pytest

from server.core.placeholders import Unresolved, check, has_placeholders, resolve

RESULTS: list[Any] = [
    {"body": {"email": "a@example.com", "n": 3, "ok": True, "none": None,
              "items": [{"email": "x@y.z"}, {"email": "second@y.z"}, {"email": "third@y.z"}],
              "obj": {"k": [1, 2]}}},
    "plain text result",
]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"to": "{{dep.0.body.email}}"}, {"to": "a@example.com"}),
        ({"n": "{{dep.0.body.n}}"}, {"n": 3}),  # whole string keeps the JSON type
        ({"n": "{{ dep.0.body.n }}"}, {"n": 3}),
        ({"ok": "{{dep.0.body.ok}}"}, {"ok": True}),
        ({"v": "{{dep.0.body.none}}"}, {"v": None}),
        ({"o": "{{dep.0.body.obj}}"}, {"o": {"k": [1, 2]}}),
        ({"t": "n={{dep.0.body.n}}!"}, {"t": "n=3!"}),  # inside text: the value's text
        ({"t": "o={{dep.0.body.obj}}"}, {"t": 'o={"k":[1,2]}'}),
        ({"t": "{{dep.0.body.n}}{{dep.0.body.ok}}"}, {"t": "3true"}),
        ({"e": "{{dep.0.body.items.2.email}}"}, {"e": "third@y.z"}),  # list index
        ({"l": ["{{dep.1}}", 1]}, {"l": ["plain text result", 1]}),  # whole result
        ({"deep": {"x": [{"y": "{{dep.0.body.email}}"}]}},
         {"deep": {"x": [{"y": "a@example.com"}]}}),
        ({"other": "{{name}} and {single}"}, {"other": "{{name}} and {single}"}),
        ({"n": 5, "b": False}, {"n": 5, "b": False}),
    ],
)
def test_resolve(config: dict[str, Any], expected: dict[str, Any]) -> None:
    assert resolve(config, RESULTS) == expected


@pytest.mark.parametrize(
    ("config", "placeholder"),
    [
        ({"x": "{{dep.0.body.missing}}"}, "{{dep.0.body.missing}}"),
        ({"x": "a {{dep.0.body.items.9.email}}"}, "{{dep.0.body.items.9.email}}"),
        ({"x": "{{dep.0.body.email.deeper}}"}, "{{dep.0.body.email.deeper}}"),
        ({"x": "{{dep.1.anything}}"}, "{{dep.1.anything}}"),
        ({"x": "{{dep.2.body}}"}, "{{dep.2.body}}"),
    ],
)
def test_missing_path_names_the_placeholder(config: dict[str, Any], placeholder: str) -> None:
    with pytest.raises(Unresolved) as info:
        resolve(config, RESULTS)
    assert info.value.placeholder == placeholder
    assert placeholder in str(info.value)


def test_resolution_error_never_carries_the_resolved_values() -> None:
    secret_results = [{"token": "s3cret-value", "body": {}}]
    with pytest.raises(Unresolved) as info:
        resolve({"a": "{{dep.0.token}}", "b": "{{dep.0.body.x}}"}, secret_results)
    assert "s3cret-value" not in str(info.value)


@pytest.mark.parametrize(
    ("config", "deps", "problem_paths"),
    [
        ({"a": "{{dep.0.x}}"}, 1, []),
        ({"a": "{{dep.0}}", "b": ["{{dep.1.y.2}}"]}, 2, []),
        ({"a": "{{dep.1.x}}"}, 1, [("a",)]),  # index out of range
        ({"a": "{{dep.0.x}}"}, 0, [("a",)]),
        ({"a": {"b": ["ok", "{{dep.x.y}}"]}}, 1, [("a", "b", 1)]),  # malformed
        ({"a": "{{dep.0.x"}, 1, [("a",)]),
        ({"a": "{{dep.0..x}}"}, 1, [("a",)]),
        ({"a": "{{ name }}", "b": 3}, 0, []),  # not ours: left alone
    ],
)
def test_check(config: dict[str, Any], deps: int, problem_paths: list[tuple[Any, ...]]) -> None:
    problems = check(config, deps)
    assert [p.path for p in problems] == problem_paths
    for p in problems:
        assert p.message


def test_has_placeholders() -> None:
    assert has_placeholders({"a": ["{{dep.0.x}}"]})
    assert not has_placeholders({"a": "{{name}}", "b": 1})
