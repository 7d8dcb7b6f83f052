"""Input decoding: msgspec errors become BAD_REQUEST naming the field, with issues."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from server.rpc.errors import TRPCError
from server.rpc.inputs import UNDEFINED, InputSpec


class Config(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    api_endpoint: str


class Create(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    execution_config: Config
    tags: list[int] = msgspec.field(default_factory=list)
    labels: dict[str, int] = msgspec.field(default_factory=dict)


class AllDefaults(msgspec.Struct):
    limit: int = 50


@pytest.mark.parametrize(("raw", "message", "path"), [
    (b'{"executionConfig":{"apiEndpoint":1}}',
     "executionConfig.apiEndpoint: Expected `str`, got `int`", ["executionConfig", "apiEndpoint"]),
    (b'{"executionConfig":{}}',
     "executionConfig.apiEndpoint: Object missing required field `apiEndpoint`",
     ["executionConfig", "apiEndpoint"]),
    (b'{"executionConfig":{"apiEndpoint":"x","extra":1}}',
     "executionConfig.extra: Object contains unknown field `extra`", ["executionConfig", "extra"]),
    (b'{"executionConfig":{"apiEndpoint":"x"},"tags":[1,"a"]}',
     "tags.1: Expected `int`, got `str`", ["tags", 1]),
    (b'{"executionConfig":{"apiEndpoint":"x"},"labels":{"a":"b"}}',
     "labels....: Expected `int`, got `str`", ["labels", "..."]),
    (b'{"surprise":1}', "surprise: Object contains unknown field `surprise`", ["surprise"]),
    (b"[]", "Expected `object`, got `array`", []),
])
def test_validation_errors_name_the_field(raw: bytes, message: str, path: list[Any]) -> None:
    spec = InputSpec(Create)
    for decode, source in ((spec.from_json, raw), (spec.from_value, msgspec.json.decode(raw))):
        with pytest.raises(TRPCError) as caught:
            decode(source)
        assert caught.value.code == "BAD_REQUEST"
        assert caught.value.message == message
        assert caught.value.issues == [{"path": path, "message": message.split(": ", 1)[-1]}]


@pytest.mark.parametrize("raw", [b'{"executionConfig":', b"{nope}", b"\xff"])
def test_malformed_json_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(TRPCError) as caught:
        InputSpec(Create).from_json(raw)
    assert caught.value.code == "PARSE_ERROR"
    assert "JSON" in caught.value.message or "truncated" in caught.value.message


@pytest.mark.parametrize("raw", [None, b"", "", b"null", " null "])
def test_undefined_or_null_input(raw: bytes | str | None) -> None:
    assert InputSpec(AllDefaults).from_json(raw) == AllDefaults(50)
    assert InputSpec(int | None).from_json(raw) is None
    with pytest.raises(TRPCError, match="input is required"):
        InputSpec(Create).from_json(raw)


@pytest.mark.parametrize("value", [None, UNDEFINED])
def test_undefined_or_null_value(value: Any) -> None:
    assert InputSpec(AllDefaults).from_value(value) == AllDefaults(50)
    with pytest.raises(TRPCError, match="input is required"):
        InputSpec(str).from_value(value)


def test_empty_struct_input_is_a_fresh_object_each_time() -> None:
    spec = InputSpec(Create | None)
    assert spec.from_json(None) is None
    mapping = InputSpec(dict[str, int])
    first, second = mapping.empty(), mapping.empty()
    assert first == second == {}
    assert first is not second


def test_no_input_type_ignores_whatever_came() -> None:
    spec = InputSpec(None)
    assert not spec.takes_input
    assert spec.from_json(b"{not json") is None
    assert spec.from_value({"x": 1}) is None


def test_values_are_converted_strictly() -> None:
    spec = InputSpec(Create)
    decoded = spec.from_value({"executionConfig": {"apiEndpoint": "https://x"}, "tags": [1]})
    assert decoded == Create(Config("https://x"), [1])
    with pytest.raises(TRPCError, match="Expected `int`, got `str`"):
        spec.from_value({"executionConfig": {"apiEndpoint": "x"}, "tags": ["1"]})
