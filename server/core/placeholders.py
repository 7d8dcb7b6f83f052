"""PURE: ``{{dep.N.path}}`` placeholders in a dependent task's executionConfig (CONTRACT §10).

``N`` is the 0-based index into ``dependsOn``; ``path`` a dot path into that dependency's
``result`` (list items by number). A string that is exactly one placeholder takes the value
with its JSON type; placeholders inside a longer string are replaced by the value's text
(objects and lists as JSON). ``{{dep.N}}`` alone is the whole result.

:func:`check` runs at create/update (syntax and index), :func:`resolve` when an attempt starts.
Nothing here does IO or logs: a resolved value may hold a secret.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

_PLACEHOLDER: Final = re.compile(r"\{\{\s*dep\.(\d+)((?:\.[^.\s{}]+)*)\s*\}\}")
# Anything that looks like the start of a placeholder; each must be a whole valid one.
_OPENING: Final = re.compile(r"\{\{\s*dep\b")
_MISSING: Final = object()


@dataclass(frozen=True)
class Problem:
    """Where in the config (path of keys and indexes) and what is wrong."""

    path: tuple[str | int, ...]
    message: str


class Unresolved(Exception):
    """A placeholder's path is not in its dependency's result (a permanent failure)."""

    def __init__(self, placeholder: str, why: str) -> None:
        super().__init__(f"placeholder {placeholder} cannot be resolved: {why}")
        self.placeholder = placeholder


def _strings(value: Any, path: tuple[str | int, ...] = ()
             ) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _strings(v, (*path, k))]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in _strings(v, (*path, i))]
    return []


def has_placeholders(config: Any) -> bool:
    return any("{{" in text and _OPENING.search(text) for _, text in _strings(config))


def check(config: Any, dependency_count: int) -> list[Problem]:
    """Syntax and index of every placeholder in ``config``."""
    problems: list[Problem] = []
    for path, text in _strings(config):
        if "{{" not in text:
            continue
        valid = list(_PLACEHOLDER.finditer(text))
        if len(_OPENING.findall(text)) != len(valid):
            problems.append(Problem(path, "malformed placeholder: write {{dep.N.path}} with N "
                                          "the index into dependsOn and path a dot path"))
            continue
        for match in valid:
            index = int(match.group(1))
            if index >= dependency_count:
                problems.append(Problem(path, f"placeholder {match.group(0)} refers to "
                                              f"dependsOn[{index}], but the task has "
                                              f"{dependency_count} dependencies"))
    return problems


def _lookup(result: Any, segments: Sequence[str], placeholder: str,
            where: str = "the dependency's result") -> Any:
    value = result
    for seg in segments:
        if isinstance(value, dict) and seg in value:
            value = value[seg]
        elif isinstance(value, list) and seg.isdigit() and int(seg) < len(value):
            value = value[int(seg)]
        else:
            raise Unresolved(placeholder, f"{seg!r} is not in {where}")
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def _resolve_string(text: str, results: Sequence[Any]) -> Any:
    whole = _PLACEHOLDER.fullmatch(text)
    if whole is not None:
        return _value(whole, results)
    return _PLACEHOLDER.sub(lambda m: _text(_value(m, results)), text)


def _value(match: re.Match[str], results: Sequence[Any]) -> Any:
    index = int(match.group(1))
    placeholder = match.group(0)
    if index >= len(results):
        raise Unresolved(placeholder, f"the task has {len(results)} dependencies")
    segments = [s for s in match.group(2).split(".") if s]
    return _lookup(results[index], segments, placeholder)


def resolve(config: Any, results: Sequence[Any]) -> Any:
    """``config`` with every placeholder replaced from ``results`` (by dependsOn index)."""
    if isinstance(config, str):
        return _resolve_string(config, results) if "{{" in config else config
    if isinstance(config, dict):
        return {k: resolve(v, results) for k, v in config.items()}
    if isinstance(config, list):
        return [resolve(v, results) for v in config]
    return config


# --- {{event.path}}: a trigger's template filled from the received body (CONTRACT §16) ------

_EVENT: Final = re.compile(r"\{\{\s*event((?:\.[^.\s{}]+)*)\s*\}\}")
_EVENT_OPENING: Final = re.compile(r"\{\{\s*event\b")


def check_event(template: Any) -> list[Problem]:
    """Syntax of every ``{{event...}}`` placeholder in ``template`` (any string in it)."""
    return [Problem(path, "malformed placeholder: write {{event.path}} with path a dot path "
                          "into the received body, or {{event}} for all of it")
            for path, text in _strings(template)
            if "{{" in text and len(_EVENT_OPENING.findall(text)) != len(_EVENT.findall(text))]


def has_event_placeholders(value: Any) -> bool:
    return any("{{" in text and _EVENT_OPENING.search(text) for _, text in _strings(value))


def _event_value(match: re.Match[str], event: Any) -> Any:
    segments = [s for s in match.group(1).split(".") if s]
    return _lookup(event, segments, match.group(0), "the received body")


def fill_event(template: Any, event: Any) -> Any:
    """``template`` with every ``{{event.path}}`` replaced from ``event``, by the typing rules
    of :func:`resolve`; :class:`Unresolved` names a placeholder whose path is missing."""
    if isinstance(template, str):
        if "{{" not in template:
            return template
        whole = _EVENT.fullmatch(template)
        if whole is not None:
            return _event_value(whole, event)
        return _EVENT.sub(lambda m: _text(_event_value(m, event)), template)
    if isinstance(template, dict):
        return {k: fill_event(v, event) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_event(v, event) for v in template]
    return template
