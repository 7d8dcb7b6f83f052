"""The Python client (schemas/client.py) against the router: every procedure has exactly one
call builder that agrees with it, and the sync/async/batch methods are what the generator
writes from those builders (regenerate with ``scripts/gen_client --py schemas/client.py``)."""

from __future__ import annotations

from pathlib import Path

import msgspec

import schemas.client as client
from schemas.system import Health
from server import clientgen
from server.procedures import build_router
from server.rpc.registry import Procedure

CLIENT = Path(client.__file__)


def _subscriptions() -> set[str]:
    return {p.path for p in build_router().procedures.values() if p.kind == "subscription"}


def test_every_procedure_has_one_builder_that_agrees_with_the_router() -> None:
    calls = clientgen.builder_calls(client)
    assert len({c.path for c in calls}) == len(calls)
    assert clientgen.differences(build_router().procedures, calls) == []


def test_a_new_procedure_without_a_builder_is_reported() -> None:
    procedures = dict(build_router().procedures)

    class Ping(msgspec.Struct):
        id: str

    async def handler(ctx: object, data: Ping) -> Health:
        raise NotImplementedError

    procedures["system.ping"] = Procedure("system.ping", "mutation", Ping, Health, handler)
    changed = dict(procedures)
    changed["tasks.get"] = Procedure("tasks.get", "mutation", Ping, list[Health], handler)
    assert clientgen.differences(procedures, clientgen.builder_calls(client)) == [
        "system.ping: the router has it, the Python client has no call builder"]
    [problem] = [p for p in clientgen.differences(changed, clientgen.builder_calls(client))
                 if p.startswith("tasks.get")]
    assert problem == ("tasks.get: builder ('query', 'TaskGet', 'Task') but router "
                       "('mutation', 'Ping', 'list[Health]')")


def test_the_committed_client_is_what_the_generator_writes() -> None:
    text = CLIENT.read_text(encoding="utf-8")
    assert clientgen.GENERATED_MARK in text
    assert clientgen.regenerate(text, client, _subscriptions()) == text, (
        "schemas/client.py is stale: run scripts/gen_client --py schemas/client.py")


def test_each_builder_has_its_three_flavours() -> None:
    for group, sync_class, builder_class in clientgen.GROUPS:
        builders = [name for name, member in vars(getattr(client, builder_class)).items()
                    if isinstance(member, staticmethod)]
        for prefix in ("", "Async", "Batch"):
            methods = [n for n in vars(getattr(client, prefix + sync_class))
                       if not n.startswith("_")]
            expected = [b for b in builders if not (prefix == "Batch" and b == "on_change")]
            assert methods == expected, (group, prefix)
