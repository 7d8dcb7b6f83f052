"""An httpx transport that connects to the addresses the guard checked — DNS rebinding closed.

A guard that resolves a name, checks the answer and then lets the HTTP client resolve it
again can be fooled by a name whose second answer differs (rebinding with a near-zero TTL:
public first, ``127.0.0.1`` next). Here the name is resolved once, inside the connection:

- :class:`GuardedBackend` is an ``httpcore`` network backend whose ``connect_tcp`` asks
  :meth:`NetworkGuard.check_host` for the host's addresses (all must be allowed) and opens
  the TCP connection to those very addresses, in order, never resolving again;
- httpcore then speaks to that socket for the request's origin: the ``Host`` header is the
  URL's host, and TLS uses the URL's host name for SNI and certificate verification — what
  changes is only where the socket goes;
- :class:`PinnedTransport` is ``httpx.AsyncHTTPTransport`` with that backend (no proxy).
  A refused destination raises :class:`~outbound.guard.AddressRefused` out of ``send``
  (not an ``httpx`` error): callers translate it at their boundary.

Pooled keep-alive connections were checked when they were opened.
"""

from __future__ import annotations

import ssl
import typing

import httpcore
import httpx

from outbound.guard import NetworkGuard

SocketOption = (tuple[int, int, int] | tuple[int, int, bytes | bytearray]
                | tuple[int, int, None, int])
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves through the guard and connects to the checked addresses only."""

    def __init__(self, guard: NetworkGuard,
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.guard = guard
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[SocketOption] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await self.guard.check_host(host, port)
        options = list(socket_options or ())
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # check_host returns at least one address
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[SocketOption] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not outbound destinations")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connections go through :class:`GuardedBackend`."""

    def __init__(self, guard: NetworkGuard, *, limits: httpx.Limits = _DEFAULT_LIMITS,
                 verify: ssl.SSLContext | bool = True, http2: bool = False) -> None:
        super().__init__(verify=verify, limits=limits, http2=http2)
        # httpx builds its httpcore pool without a way to pass a network backend: the same
        # pool, built again with one (httpx.AsyncHTTPTransport keeps it in ``_pool``).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True, http2=http2,
            network_backend=GuardedBackend(guard),
        )
