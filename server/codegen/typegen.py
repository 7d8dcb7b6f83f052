"""TypeScript declarations of the router, for ``createTRPCClient<AppRouter>`` (@trpc/client 11).

``render_typescript(router)`` reads every procedure of a :class:`Router` (never a hand-kept
list) and returns one TypeScript module, declaration only, that holds:

- one ``export interface`` per msgspec Struct (dataclass, TypedDict) reachable from a procedure,
  with the wire (camelCase) names; a field with a default is optional (``?:``) when the Struct
  is read as input (or is encoded with ``omit_defaults``); ``| null`` where ``None`` is allowed;
- string-literal unions for ``Literal`` types, named after the module-level ``Literal`` alias that
  spells them (``TaskStatus``) when the Struct's module has one, inline otherwise;
- for an input Struct that has both fields of a :class:`Discriminator` (``taskType`` and
  ``executionConfig``), a discriminated union with one member per variant, so that
  ``executionConfig`` is checked against the config of its ``taskType``;
- ``AppRouter``: a ``TRPCBuiltRouter`` of ``TRPCQueryProcedure`` / ``TRPCMutationProcedure`` /
  ``TRPCSubscriptionProcedure`` declarations, no transformer, whose error shape carries ``issues``.
  A subscription's output is ``AsyncIterable<Item>`` (``Tracked<Item>`` when its handler yields
  :class:`~server.rpc.registry.Tracked` items, as ``@trpc/client`` gives ``{id, data}`` then).

Mapping: str, datetime, date, time, timedelta, UUID, Decimal and bytes → ``string``; int and
float → ``number``; list/set/variadic tuple → ``T[]``; fixed tuple → ``[A, B]``; dict →
``Record<string, V>``; ``Any``, ``msgspec.Raw`` and anything unknown → ``unknown`` (the
generator never fails on a type: the server generates this module at start).

The output is deterministic: declarations sorted by name, router keys sorted, no timestamps.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args, get_origin

import msgspec
import msgspec.inspect as mi

from schemas.configs import CONFIG_TYPES
from server.codegen import clientgen
from server.procedures import build_router
from server.rpc.errors import TRPCError
from server.rpc.inputs import InputSpec
from server.rpc.registry import Procedure, Router, Tracked

HEADER: Final = """\
// Errands: the tRPC router's types, generated from the server's msgspec schemas.
// DO NOT EDIT. Regenerate with `scripts/gen_client --ts <file>`; a running server serves the
// same module at GET /trpc-types.ts.
//
//   import { createTRPCClient, httpBatchLink } from '@trpc/client';
//   import type { AppRouter } from './errands';
//   const errands = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url })] });
//
// Needs `@trpc/server` 11 installed (types only) beside `@trpc/client`; no transformer.
"""

TRPC_IMPORT: Final = """\
import type {
  inferRouterInputs,
  inferRouterOutputs,
  TRPCBuiltRouter,
  TRPCDefaultErrorData,
  TRPCErrorShape,
  TRPCMutationProcedure,
  TRPCQueryProcedure,
  TRPCSubscriptionProcedure,
} from '@trpc/server';
"""

PREAMBLE: Final = """\
/** One problem of a BAD_REQUEST validation error: where (field path) and what. */
export interface ValidationIssue {
  path: (string | number)[];
  message: string;
}

/** `error.data` of every Errands error: tRPC's default data, plus `issues` on validation. */
export interface ErrandsErrorData extends TRPCDefaultErrorData {
  issues?: ValidationIssue[];
}

/** The error shape of every Errands procedure. */
export type ErrandsErrorShape = TRPCErrorShape<ErrandsErrorData> & { message: string };

/** A JSON value: what an output typed `Any` (a result, a body) holds on the wire. */
export type JsonValue =
  | string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A subscription item with an id (SSE `id:`); resume with `lastEventId`. */
export interface Tracked<T> {
  id: string;
  data: T;
}
"""

_STRINGS: Final = (mi.StrType, mi.DateTimeType, mi.DateType, mi.TimeType, mi.TimeDeltaType,
                   mi.UUIDType, mi.DecimalType, mi.BytesType, mi.ByteArrayType,
                   mi.MemoryViewType)
_ARRAYS: Final = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
_OBJECTS: Final = (mi.StructType, mi.DataclassType, mi.TypedDictType)
_IDENT_OK: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")


@dataclass(frozen=True)
class Discriminator:
    """An input Struct with ``tag`` and ``payload`` fields becomes a union over ``variants``.

    ``variants`` maps each tag value to the payload's Struct; ``map_name`` names an interface
    from tag value to payload type, emitted beside it.
    """

    tag: str
    payload: str
    variants: Mapping[str, type[Any]]
    map_name: str


#: ``executionConfig`` typed by ``taskType`` (docs/CONTRACT.md §5), from ``schemas.configs``.
TASK_CONFIG: Final = Discriminator("task_type", "execution_config", CONFIG_TYPES,
                                   "ExecutionConfigByTaskType")

ObjectInfo = mi.StructType | mi.DataclassType | mi.TypedDictType


def render_typescript(router: Router,
                      discriminators: Iterable[Discriminator] = (TASK_CONFIG,)) -> str:
    """The TypeScript module for ``router`` (see the module docstring); pure and deterministic."""
    return _Module(router, tuple(discriminators)).render()


def _procedure_tracked(procedure: Procedure) -> bool:
    """Whether a subscription's items are :class:`Tracked` (the client then sees ``{id, data}``).

    Read from ``output_type`` (``Tracked[X]``) or from the handler's return annotation.
    """
    if get_origin(procedure.output_type) is Tracked:
        return True
    try:
        hints = typing.get_type_hints(procedure.handler)
    except Exception:  # an annotation that does not resolve: fall back on its text
        return "Tracked[" in str(getattr(procedure.handler, "__annotations__", {}).get("return"))
    return _mentions(hints.get("return"), Tracked)


def _mentions(annotation: Any, target: type[Any]) -> bool:
    if annotation is target or get_origin(annotation) is target:
        return True
    return any(_mentions(arg, target) for arg in get_args(annotation))


def _item_type(procedure: Procedure) -> Any:
    if get_origin(procedure.output_type) is Tracked:
        return get_args(procedure.output_type)[0]
    return procedure.output_type


def _input_optional(input_type: Any) -> bool:
    """True when an undefined input is accepted (the server decodes it to its empty value)."""
    try:
        InputSpec(input_type).empty()
    except TRPCError:
        return False
    return True


def _literal_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _union(parts: list[str]) -> str:
    unique = list(dict.fromkeys(parts))
    for everything in ("unknown", "JsonValue"):
        if everything in unique:
            return everything
    if "null" in unique:  # null last, as people write it
        unique = [p for p in unique if p != "null"] + ["null"]
    return " | ".join(unique) if unique else "never"


def _property(name: str) -> str:
    ok = name and not name[0].isdigit() and set(name) <= _IDENT_OK
    return name if ok else _literal_json(name)


def _doc(lines: list[str], indent: str) -> list[str]:
    lines = [line.replace("*/", "*\\/") for line in lines if line.strip()]
    if not lines:
        return []
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}" for line in lines), f"{indent} */"]


def _length(low: int | None, high: int | None, unit: str) -> list[str]:
    if low is not None and high is not None:
        return [f"{low}..{high} {unit}"]
    if low == 1:
        return ["non-empty"]
    if low is not None:
        return [f"at least {low} {unit}"]
    return [] if high is None else [f"at most {high} {unit}"]


def _constraints(info: mi.Type) -> list[str]:
    """Human-readable limits msgspec enforces (TypeScript cannot): ``1..200 chars``, ``>= 0``."""
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        return [c for member in info.types for c in _constraints(member)]
    out: list[str] = []
    if isinstance(info, mi.StrType | mi.ListType):
        out.extend(_length(info.min_length, info.max_length,
                           "chars" if isinstance(info, mi.StrType) else "items"))
        if isinstance(info, mi.StrType) and info.pattern is not None:
            out.append(f"matches /{info.pattern}/")
        if isinstance(info, mi.ListType):
            out.extend(f"each item {c}" for c in _constraints(info.item_type))
    elif isinstance(info, mi.IntType | mi.FloatType):
        for op, bound in ((">", info.gt), (">=", info.ge), ("<", info.lt), ("<=", info.le)):
            if bound is not None:
                out.append(f"{op} {bound}")
    elif isinstance(info, mi.DateTimeType):
        out.append("ISO 8601 timestamp" + (" with a time zone" if info.tz else ""))
    return out


def _default(field: mi.Field) -> str | None:
    if field.default is msgspec.NODEFAULT:
        return None
    try:
        return f"default: {msgspec.json.encode(field.default).decode()}"
    except (TypeError, msgspec.EncodeError):
        return None


class _Module:
    """One rendering pass: collects the object types, names them, writes the module."""

    def __init__(self, router: Router, discriminators: tuple[Discriminator, ...]) -> None:
        self.procedures = sorted(router.procedures.values(), key=lambda p: p.path)
        self.discriminators = discriminators
        self.objects: dict[type[Any], ObjectInfo] = {}
        self.read_as_input: set[type[Any]] = set()
        self.names: dict[type[Any], str] = {}
        self.aliases: dict[frozenset[Any], str] = {}
        self.used_aliases: dict[str, mi.LiteralType | mi.UnionType] = {}

    # --- collecting -------------------------------------------------------------------------

    def _collect(self) -> None:
        inputs = [p.input_type for p in self.procedures if p.input_type is not None]
        outputs = [_item_type(p) for p in self.procedures if p.output_type is not None]
        for tp in inputs:
            self._walk(mi.type_info(tp), as_input=True, seen=set())
        for tp in outputs:
            self._walk(mi.type_info(tp), as_input=False, seen=set())
        for disc in self.discriminators:
            if any(self._discriminated(info) is disc for info in list(self.objects.values())):
                for variant in disc.variants.values():
                    self._walk(mi.type_info(variant), as_input=True, seen=set())
        self._name_objects()
        self._find_aliases()

    def _walk(self, info: mi.Type, *, as_input: bool, seen: set[type[Any]]) -> None:
        if isinstance(info, _OBJECTS):
            cls = info.cls
            if as_input:
                self.read_as_input.add(cls)
            if cls in seen:
                return
            seen.add(cls)
            self.objects.setdefault(cls, info)
            for field in info.fields:
                self._walk(field.type, as_input=as_input, seen=seen)
            return
        for child in self._children(info):
            self._walk(child, as_input=as_input, seen=seen)

    @staticmethod
    def _children(info: mi.Type) -> tuple[mi.Type, ...]:
        if isinstance(info, mi.Metadata):
            return (info.type,)
        if isinstance(info, mi.UnionType):
            return info.types
        if isinstance(info, _ARRAYS):
            return (info.item_type,)
        if isinstance(info, mi.TupleType | mi.NamedTupleType):
            return info.item_types if isinstance(info, mi.TupleType) else tuple(
                f.type for f in info.fields)
        if isinstance(info, mi.DictType):
            return (info.key_type, info.value_type)
        return ()

    def _name_objects(self) -> None:
        by_name: dict[str, list[type[Any]]] = {}
        for cls in self.objects:
            by_name.setdefault(cls.__name__, []).append(cls)
        for name, classes in by_name.items():
            classes.sort(key=lambda c: (c.__module__, c.__qualname__))
            self.names[classes[0]] = name
            for cls in classes[1:]:  # a clash: qualify by module, deterministically
                prefix = "".join(part.title() for part in cls.__module__.split("."))
                self.names[cls] = prefix + name

    def _find_aliases(self) -> None:
        """Module-level aliases of the collected types' modules: ``Literal`` ones by value set,
        unions of collected Structs (``Step``) by member classes."""
        taken = set(self.names.values())
        found: dict[frozenset[Any], list[str]] = {}
        modules = sorted({cls.__module__ for cls in self.objects}
                         | {v.__module__ for d in self.discriminators
                            for v in d.variants.values()})
        for module_name in modules:
            module = sys.modules.get(module_name)
            for attr, value in sorted(vars(module).items()) if module else ():
                if not attr[:1].isupper() or attr in taken:
                    continue
                origin, args = get_origin(value), get_args(value)
                if origin is Literal or (
                        origin in (typing.Union, types.UnionType)
                        and all(arg in self.objects for arg in args)):
                    found.setdefault(frozenset(args), []).append(attr)
        self.aliases = {values: sorted(set(names))[0] for values, names in found.items()}

    def _discriminated(self, info: ObjectInfo) -> Discriminator | None:
        if not isinstance(info, mi.StructType) or not info.forbid_unknown_fields:
            return None
        names = {f.name for f in info.fields}
        for disc in self.discriminators:
            if disc.tag in names and disc.payload in names:
                return disc
        return None

    # --- types ------------------------------------------------------------------------------

    def ts(self, info: mi.Type, output: bool = False) -> str:  # noqa: C901 - flat dispatch
        """The TypeScript spelling of one msgspec type.

        ``Any`` is ``unknown`` in inputs (anything JSON can carry) and ``JsonValue`` in
        outputs: @trpc/client's JSON ``Serialize`` makes an ``unknown`` field optional.
        """
        if isinstance(info, mi.Metadata):
            return self.ts(info.type, output)
        if isinstance(info, mi.NoneType):
            return "null"
        if isinstance(info, mi.BoolType):
            return "boolean"
        if isinstance(info, mi.IntType | mi.FloatType):
            return "number"
        if isinstance(info, _STRINGS):
            return "string"
        if isinstance(info, mi.LiteralType):
            return self._literal(info)
        if isinstance(info, mi.EnumType):
            return _union([_literal_json(m.value) for m in info.cls])
        if isinstance(info, _ARRAYS):
            item = self.ts(info.item_type, output)
            return f"({item})[]" if " " in item else f"{item}[]"
        if isinstance(info, mi.TupleType):
            return "[" + ", ".join(self.ts(t, output) for t in info.item_types) + "]"
        if isinstance(info, mi.NamedTupleType):
            return "[" + ", ".join(self.ts(f.type, output) for f in info.fields) + "]"
        if isinstance(info, mi.DictType):
            return f"Record<string, {self.ts(info.value_type, output)}>"
        if isinstance(info, _OBJECTS):
            return self.names.get(info.cls, "Record<string, unknown>")
        if isinstance(info, mi.UnionType):
            return self._named_union(info) or _union([self.ts(m, output) for m in info.types])
        return "JsonValue" if output else "unknown"  # Any, Raw, custom and extension types

    def _literal(self, info: mi.LiteralType) -> str:
        name = self.aliases.get(frozenset(info.values))
        if name is not None:
            self.used_aliases[name] = info
            return name
        return self._literal_union(info)

    def _named_union(self, info: mi.UnionType) -> str | None:
        """The alias of a union of Structs (``Step``), or None."""
        if not all(isinstance(m, mi.StructType) for m in info.types):
            return None
        name = self.aliases.get(frozenset(m.cls for m in info.types if
                                          isinstance(m, mi.StructType)))
        if name is not None:
            self.used_aliases[name] = info
        return name

    def _literal_union(self, info: mi.LiteralType | mi.UnionType) -> str:
        if isinstance(info, mi.UnionType):
            return _union([self.ts(m) for m in info.types if not isinstance(m, mi.StructType)]
                          + [self.names[m.cls] for m in info.types
                             if isinstance(m, mi.StructType)])
        return _union([_literal_json(v) for v in info.values])

    # --- declarations -----------------------------------------------------------------------

    def _fields(self, info: ObjectInfo, skip: frozenset[str] = frozenset()) -> list[str]:
        cls = info.cls
        config = getattr(cls, "__struct_config__", None)
        loose = cls in self.read_as_input or bool(getattr(config, "omit_defaults", False))
        lines: list[str] = []
        if isinstance(info, mi.StructType) and info.tag_field is not None:
            lines.append(f"  {_property(info.tag_field)}: {_literal_json(info.tag)};")
        for field in info.fields:
            if field.name in skip:
                continue
            optional = not field.required and (loose or isinstance(info, mi.TypedDictType))
            notes = _constraints(field.type)
            default = _default(field)
            if default is not None and optional:
                notes.append(default)
            lines.extend(_doc(["; ".join(notes)] if notes else [], "  "))
            mark = "?:" if optional else ":"
            lines.append(f"  {_property(field.encode_name)}{mark} "
                         f"{self.ts(field.type, output=cls not in self.read_as_input)};")
        return lines

    def _declare(self, cls: type[Any], info: ObjectInfo) -> str:
        name = self.names[cls]
        doc = _doc([line.strip() for line in (cls.__doc__ or "").strip().splitlines()][:6], "")
        disc = self._discriminated(info)
        if disc is None:
            body = self._fields(info)
            return "\n".join([*doc, f"export interface {name} {{", *body, "}"])
        return self._declare_discriminated(name, doc, info, disc)

    def _declare_discriminated(self, name: str, doc: list[str], info: ObjectInfo,
                               disc: Discriminator) -> str:
        fields = {f.name: f for f in info.fields}
        tag, payload = fields[disc.tag], fields[disc.payload]
        tag_info = tag.type.type if isinstance(tag.type, mi.Metadata) else tag.type
        values = sorted(map(str, tag_info.values) if isinstance(tag_info, mi.LiteralType)
                        else disc.variants)
        common = f"{name}Common"
        body = self._fields(info, skip=frozenset({disc.tag, disc.payload}))
        members = []
        for value in values:
            variant = disc.variants.get(value)
            payload_ts = (self.names[variant] if variant in self.names
                          else self.ts(payload.type))
            members.append(f"  | ({common} & {{ {_property(tag.encode_name)}: "
                           f"{_literal_json(value)}; {_property(payload.encode_name)}: "
                           f"{payload_ts} }})")
        mapping = [f"  {_property(str(v))}: {self.names[disc.variants[v]]};"
                   for v in values if disc.variants.get(v) in self.names]
        return "\n".join([
            f"/** The fields of {name} other than {tag.encode_name} and "
            f"{payload.encode_name}. */",
            f"export interface {common} {{", *body, "}",
            "",
            f"/** {payload.encode_name} by {tag.encode_name}. */",
            f"export interface {disc.map_name} {{", *mapping, "}",
            "",
            *doc,
            f"export type {name} =", *members[:-1], members[-1] + ";",
        ])

    # --- router -----------------------------------------------------------------------------

    def _procedure(self, procedure: Procedure) -> str:
        kind = {"query": "TRPCQueryProcedure", "mutation": "TRPCMutationProcedure",
                "subscription": "TRPCSubscriptionProcedure"}[procedure.kind]
        if procedure.input_type is None:
            input_ts = "void"
        else:
            input_ts = self.ts(mi.type_info(procedure.input_type))
            if _input_optional(procedure.input_type):
                input_ts = f"{input_ts} | undefined"
        item = _item_type(procedure)
        output_ts = "void" if item is None else self.ts(mi.type_info(item), output=True)
        if procedure.kind == "subscription":
            if _procedure_tracked(procedure):
                output_ts = f"Tracked<{output_ts}>"
            output_ts = f"AsyncIterable<{output_ts}>"
        return f"{kind}<{{ input: {input_ts}; output: {output_ts}; meta: object }}>"

    def _record(self) -> list[str]:
        tree: dict[str, Any] = {}
        for procedure in self.procedures:
            *parents, leaf = procedure.path.split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = procedure
        lines: list[str] = []
        self._emit_record(tree, "  ", lines)
        return lines

    def _emit_record(self, node: dict[str, Any], indent: str, lines: list[str]) -> None:
        for key in sorted(node):
            value = node[key]
            if isinstance(value, Procedure):
                lines.extend(_doc([value.description.splitlines()[0].replace("``", "`")]
                                  if value.description else [], indent))
                lines.append(f"{indent}{_property(key)}: {self._procedure(value)};")
            else:
                lines.append(f"{indent}{_property(key)}: {{")
                self._emit_record(value, indent + "  ", lines)
                lines.append(f"{indent}}};")

    # --- module -----------------------------------------------------------------------------

    def render(self) -> str:
        self._collect()
        record = self._record()  # first: it marks the aliases in use
        declarations = {self.names[cls]: self._declare(cls, info)
                        for cls, info in self.objects.items()}
        for name, info in self.used_aliases.items():
            declarations[name] = f"export type {name} = {self._literal_union(info)};"
        router = "\n".join([
            "/** Every procedure, by path: `createTRPCClient<AppRouter>(...)`. */",
            "export type AppRouter = TRPCBuiltRouter<",
            "  { ctx: object; meta: object; errorShape: ErrandsErrorShape; transformer: false },",
            "  {", *("  " + line for line in record), "  }",
            ">;",
            "",
            "/** Inputs by path, e.g. `RouterInputs['tasks']['list']`. */",
            "export type RouterInputs = inferRouterInputs<AppRouter>;",
            "/** Outputs by path (as JSON gives them), e.g. `RouterOutputs['tasks']['get']`. */",
            "export type RouterOutputs = inferRouterOutputs<AppRouter>;",
        ])
        parts = [HEADER, TRPC_IMPORT, PREAMBLE]
        parts.extend(declarations[name] + "\n" for name in sorted(declarations))
        parts.append(router + "\n")
        return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """``scripts/gen_client``: ``--ts FILE`` writes the module, ``--check FILE`` exits 1 if
    FILE differs from what the router generates now (``-`` as FILE: standard output/input)."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="gen_client", description=main.__doc__)
    parser.add_argument("--ts", action="append", default=[], metavar="FILE",
                        help="write the TypeScript AppRouter module to FILE")
    parser.add_argument("--check", action="append", default=[], metavar="FILE",
                        help="exit 1 if FILE is not what would be generated")
    parser.add_argument("--py", metavar="DIR",
                        help="regenerate the Python client package in DIR (clients/python): "
                             "its models and its generated methods")
    parser.add_argument("--check-py", metavar="DIR",
                        help="exit 1 if the Python client package in DIR is stale")
    args = parser.parse_args(argv)
    router = build_router()
    text = render_typescript(router)
    if args.py or args.check_py:
        return python_client(router, args.py, args.check_py)
    if not args.ts and not args.check:
        sys.stdout.write(text)
    for target in args.ts:
        if target == "-":
            sys.stdout.write(text)
            continue
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    stale = []
    for target in args.check:
        current = sys.stdin.read() if target == "-" else (
            Path(target).read_text(encoding="utf-8") if Path(target).exists() else None)
        if current != text:
            stale.append(target)
            print(f"{target} is stale: regenerate with scripts/gen_client --ts {target}",
                  file=sys.stderr)
    return 1 if stale else 0


def python_client(router: Router, write: str | None, check: str | None) -> int:
    """``--py DIR`` / ``--check-py DIR`` (server/codegen/clientgen.py): the package's
    ``errands_client/models.py`` and the generated end of ``errands_client/client.py``;
    1 when stale or when a procedure has no call builder."""
    from pathlib import Path

    import schemas

    package = Path(write or check or "") / "errands_client"
    client_file, models_file = package / "client.py", package / "models.py"
    current = client_file.read_text(encoding="utf-8")
    problems = clientgen.differences(router.procedures, clientgen.builder_calls(current))
    for problem in problems:
        print(problem, file=sys.stderr)
    subscriptions = {p.path for p in router.procedures.values() if p.kind == "subscription"}
    fresh = {
        client_file: clientgen.regenerate(current, subscriptions),
        models_file: clientgen.render_models(
            Path(schemas.__file__).parent,
            clientgen.model_roots(current, router.procedures)),
    }
    stale = False
    for target, text in fresh.items():
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        if write:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}", file=sys.stderr)
        else:
            stale = True
            print(f"{target} is stale: regenerate with scripts/gen_client --py {check}",
                  file=sys.stderr)
    return 1 if problems or stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
