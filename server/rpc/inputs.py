"""Decoding a call's input into its procedure's ``input_type``, with tRPC-shaped errors.

Contract:

- ``input_type is None``: the procedure takes no input; whatever came is ignored.
- Undefined input (no ``?input=``, an empty body, a missing batch key) and JSON ``null`` are
  the same thing: the input type's "empty" value if it has one (``None`` when it accepts
  ``None``, else ``{}`` decoded into it when every field has a default), otherwise
  ``BAD_REQUEST "input is required"``.
- A malformed JSON text, or one nested deeper than ``MAX_DEPTH`` arrays/objects, is
  ``PARSE_ERROR`` (checked before decoding, so no decoder or later walk can recurse too
  far); a ``msgspec.ValidationError`` is ``BAD_REQUEST``
  whose message names the field (``executionConfig.apiEndpoint: Expected `str`, got `int```)
  and whose ``issues`` is ``[{"path": [...], "message": ...}]``.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from schemas.base import validation_issue
from server.rpc.errors import TRPCError

#: An input that was not sent at all (JSON has no ``undefined``).
UNDEFINED: Final = msgspec.UNSET

_JSON_DECODER: Final = msgspec.json.Decoder()
# check_depth's reduction of a JSON text to its structure.
_ESCAPES: Final = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'[]{}"')
_SQUARE: Final = bytes.maketrans(b"{}", b"[]")

#: Deepest nesting of arrays and objects accepted in any input (the whole JSON text).
MAX_DEPTH: Final = 64

_NO_INPUT: Final = 0
_EMPTY_IS_NONE: Final = 1
_EMPTY_IS_OBJECT: Final = 2
_REQUIRED: Final = 3


def validation_error(exc: msgspec.ValidationError) -> TRPCError:
    """``BAD_REQUEST`` naming the field, from msgspec's ``"... - at `$.a.b[0]`"`` message."""
    path, message = validation_issue(exc)
    named = ".".join(str(p) for p in path)
    return TRPCError("BAD_REQUEST", f"{named}: {message}" if named else message,
                     issues=[{"path": path, "message": message}])


def parse_error(exc: msgspec.DecodeError) -> TRPCError:
    return TRPCError("PARSE_ERROR", f"Input is not valid JSON: {exc}")


def _too_deep() -> TRPCError:
    return TRPCError("PARSE_ERROR", f"Input is nested deeper than {MAX_DEPTH} levels")


def check_depth(raw: bytes | str) -> None:
    """``PARSE_ERROR`` when the JSON text nests arrays/objects deeper than ``MAX_DEPTH``.

    Counting brackets is enough for nearly every input (fewer than ``MAX_DEPTH`` of them
    cannot nest deeper). Otherwise the text is cut down to its brackets outside strings —
    escapes dropped, then every byte but brackets and quotes, then the strings, all in C —
    and the innermost pairs are taken away, one level a pass: ``MAX_DEPTH`` passes that leave
    nothing mean it is shallow enough (a tenth of the cost of scanning every byte in a regex
    for a batch of creates). What remains (too deep, or brackets that do not pair: the
    decoder's to report) is counted exactly.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return
    if b"\\" in data:
        data = _ESCAPES.sub(b"", data)
    skeleton = data.translate(_SQUARE, _NOT_STRUCTURE)
    if b'"' in skeleton:  # without escapes, quotes open and close strings in turn
        skeleton = b"".join(skeleton.split(b'"')[::2])
    rest = skeleton
    for _ in range(MAX_DEPTH):
        rest = rest.replace(b"[]", b"")
        if not rest:
            return
    depth = 0
    for byte in skeleton:
        if byte == 0x5B:  # [
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep()
        elif byte == 0x5D:  # ]
            depth -= 1


def parse_json(raw: bytes | str) -> Any:
    """Decode a JSON text into plain Python values; ``PARSE_ERROR`` if it is malformed."""
    check_depth(raw)
    try:
        return _JSON_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise parse_error(exc) from None
    except RecursionError:
        raise _too_deep() from None


def _empty_mode(input_type: Any) -> int:
    if input_type is None:
        return _NO_INPUT
    try:
        msgspec.convert(None, input_type)
        return _EMPTY_IS_NONE
    except (msgspec.ValidationError, TypeError):
        pass
    try:
        msgspec.convert({}, input_type)
        return _EMPTY_IS_OBJECT
    except (msgspec.ValidationError, TypeError):
        return _REQUIRED


class InputSpec:
    """How one procedure's input is decoded; built once per procedure."""

    __slots__ = ("_decoder", "_mode", "input_type")

    def __init__(self, input_type: Any) -> None:
        self.input_type = input_type
        self._mode = _empty_mode(input_type)
        self._decoder: msgspec.json.Decoder[Any] | None = (
            None if input_type is None else msgspec.json.Decoder(input_type)
        )

    @property
    def takes_input(self) -> bool:
        return self._mode != _NO_INPUT

    def empty(self) -> Any:
        """The value of an undefined (or ``null``) input."""
        mode = self._mode
        if mode == _NO_INPUT or mode == _EMPTY_IS_NONE:
            return None
        if mode == _EMPTY_IS_OBJECT:
            return msgspec.convert({}, self.input_type)
        raise TRPCError("BAD_REQUEST", "input is required",
                        issues=[{"path": [], "message": "input is required"}])

    def from_json(self, raw: bytes | str | None) -> Any:
        """Decode a JSON text straight into the input type (``None``/empty = undefined)."""
        decoder = self._decoder
        if decoder is None:
            return None
        if not raw:
            return self.empty()
        check_depth(raw)
        try:
            return decoder.decode(raw)
        except msgspec.ValidationError as exc:
            if raw.strip() in (b"null", "null"):
                return self.empty()
            raise validation_error(exc) from None
        except msgspec.DecodeError as exc:
            raise parse_error(exc) from None
        except RecursionError:
            raise _too_deep() from None

    def from_value(self, value: Any) -> Any:
        """Convert an already parsed JSON value (or ``UNDEFINED``) into the input type."""
        if self._decoder is None:
            return None
        if value is None or value is UNDEFINED:
            return self.empty()
        try:
            return msgspec.convert(value, self.input_type)
        except msgspec.ValidationError as exc:
            raise validation_error(exc) from None
        except RecursionError:
            raise _too_deep() from None
