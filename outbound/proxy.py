"""A SOCKS5 proxy on loopback that connects only where the network guard allows.

A browser pointed at it (Chromium: ``socks5://127.0.0.1:<port>`` with the implicit loopback
bypass removed) opens every TCP connection of its pages through it — documents,
subresources, every redirect hop, WebSockets, fetches of workers — and Chromium's SOCKS5
sends the host *name*, so the browser resolves nothing itself. The check is therefore per
connection, in the proxy, where it is cheap, and not per request in a route handler.

Contract:

- :meth:`GuardedProxy.start` listens on ``127.0.0.1`` and a free port (:attr:`port`);
  :meth:`GuardedProxy.close` stops listening and cuts every connection still relayed.
- Only SOCKS5 ``CONNECT`` without authentication is served (anything else is answered with
  the SOCKS5 refusal for it and closed). The destination (name or IP literal, any port) is
  resolved once by :meth:`NetworkGuard.check_host` — all its addresses must be allowed —
  and the connection goes to those very addresses (no second resolution: no DNS
  rebinding), tried in order.
- A refused destination is answered "not allowed by ruleset" (a name that does not
  resolve: "host unreachable") and nothing is connected; a destination that does not
  answer is "connection refused" / "host unreachable". Either way the reason — the guard's
  :class:`~outbound.guard.OutboundError`, or :class:`DestinationUnreachable` — is passed to
  ``on_failure`` *before* the answer is sent, so whoever sees the client's error (a SOCKS
  failure says no more) can read why.
- After the answer the bytes are relayed as they are, both ways, half-closes included;
  TLS stays end to end between the client and the destination.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Callable
from typing import Final

from outbound.guard import NetworkGuard, OutboundError, ResolutionFailed

HANDSHAKE_TIMEOUT_SECONDS: Final = 10.0
CONNECT_TIMEOUT_SECONDS: Final = 30.0
_CHUNK: Final = 65536

# SOCKS5 (RFC 1928) answer codes.
_SUCCEEDED: Final = 0
_NOT_ALLOWED: Final = 2
_HOST_UNREACHABLE: Final = 4
_CONNECTION_REFUSED: Final = 5
_COMMAND_NOT_SUPPORTED: Final = 7
_ADDRESS_TYPE_NOT_SUPPORTED: Final = 8


class DestinationUnreachable(OutboundError):
    """An allowed destination that did not accept the connection (may pass later)."""

    retryable = True
    kind = "unreachable"


class _Refused(Exception):
    """The handshake ends with this SOCKS5 answer code (None: the answer was given)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


class GuardedProxy:
    """SOCKS5 on loopback, every destination checked by ``guard``; see the module docstring."""

    def __init__(self, guard: NetworkGuard,
                 on_failure: Callable[[OutboundError], None] | None = None) -> None:
        self.guard = guard
        self._on_failure = on_failure
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """The proxy URL a browser is given (``socks5://127.0.0.1:<port>``)."""
        return f"socks5://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on 127.0.0.1 and a free port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and cut every connection, relayed or still in its handshake."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            try:
                async with asyncio.timeout(HANDSHAKE_TIMEOUT_SECONDS):
                    host, port = await self._handshake(reader, writer)
                up_reader, upstream = await self._connect(host, port)
            except _Refused as refused:
                if refused.code is not None:
                    writer.write(bytes((5, refused.code, 0, 1, 0, 0, 0, 0, 0, 0)))
                    await writer.drain()
                return
            self._writers.add(upstream)
            bound = upstream.get_extra_info("sockname") or ("0.0.0.0", 0)
            writer.write(_answer(_SUCCEEDED, bound[0], bound[1]))
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client or the destination went away: nothing to report
        except asyncio.CancelledError:
            # Only close() cancels these tasks, and this is their end; re-raised, asyncio's
            # streams callback would log it as an unhandled error (Python 3.11).
            pass
        finally:
            for end in (upstream, writer):
                if end is not None:
                    self._writers.discard(end)
                    end.close()
            self._tasks.discard(task)

    async def _handshake(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> tuple[str, int]:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5 or 0 not in methods:
            writer.write(b"\x05\xff")  # no acceptable method
            raise _Refused(None)
        writer.write(b"\x05\x00")
        version, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode(
                "ascii", "replace")
        elif kind == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            raise _Refused(_ADDRESS_TYPE_NOT_SUPPORTED)
        port = int.from_bytes(await reader.readexactly(2), "big")
        if version != 5 or command != 1:
            raise _Refused(_COMMAND_NOT_SUPPORTED)
        return host, port

    async def _connect(self, host: str,
                       port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            addresses = await self.guard.check_host(host, port)
        except OutboundError as exc:
            self._failed(exc)
            raise _Refused(_HOST_UNREACHABLE if isinstance(exc, ResolutionFailed)
                           else _NOT_ALLOWED) from exc
        code, reason = _HOST_UNREACHABLE, "no address answered"
        for address in addresses:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    return await asyncio.open_connection(address, port)
            except ConnectionRefusedError:
                code, reason = _CONNECTION_REFUSED, "connection refused"
            except TimeoutError:
                reason = f"no answer in {CONNECT_TIMEOUT_SECONDS:g} s"
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
        self._failed(DestinationUnreachable(f"could not connect to {host}:{port}: {reason}"))
        raise _Refused(code)

    def _failed(self, exc: OutboundError) -> None:
        if self._on_failure is not None:
            self._on_failure(exc)


def _answer(code: int, host: str, port: int) -> bytes:
    address = ipaddress.ip_address(host.partition("%")[0])
    kind = 1 if address.version == 4 else 4
    return bytes((5, code, 0, kind)) + address.packed + port.to_bytes(2, "big")


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy ``source`` to ``sink`` until end of stream, then half-close ``sink``."""
    while data := await source.read(_CHUNK):
        sink.write(data)
        await sink.drain()
    with contextlib.suppress(OSError):
        if sink.can_write_eof():
            sink.write_eof()
