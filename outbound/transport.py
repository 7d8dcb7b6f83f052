"""An httpx transport that connects to the addresses the guard checked — DNS rebinding closed.

A guard that resolves a name, checks the answer and then lets the HTTP client resolve it
again can be fooled by a name whose second answer differs (rebinding with a near-zero TTL:
public first, ``127.0.0.1`` next). Here the name is resolved once, inside the connection.
What goes where:

- :meth:`PinnedTransport.handle_async_request` (httpx's seam: ``httpx.AsyncClient``,
  ``Request``, ``Response``, its exceptions — GoHighLevel, webhook delivery) speaks HTTP/1.1
  through an ``aiohttp`` client session (a fraction of the CPU httpcore and anyio spend per
  request);
- :meth:`PinnedTransport.open` (api_call, where httpx's URL, request and response objects
  cost more CPU than the exchange itself) sends one request on :class:`outbound.wire.WirePool`,
  a lean client of its own (an asyncio protocol and httptools' parser: a quarter of the
  aiohttp session's CPU per request), under the same rules, listed there;
- both resolve every destination, names and IP literals alike, through
  :meth:`NetworkGuard.check_host` (all addresses must be allowed), with no DNS cache, and
  open the TCP connection to those very addresses, never resolving again (aiohttp: the
  connector below; the wire: its pool); pooled keep-alive connections were checked when
  they were opened and serve only their own (scheme, host, port);
- the ``Host`` header is the URL's host, and TLS uses the URL's host name for SNI and
  certificate verification — what changes is only where the socket goes;
- no proxy from the environment, no cookie jar, no redirects (httpx's ``follow_redirects``
  and the callers' own redirect handling see every 3xx), no header the request does not carry;
  the httpx path does not decompress (httpx decodes the body as the ``Content-Encoding`` says,
  once), :meth:`~PinnedTransport.open` does (gzip, deflate);
- a refused destination raises :class:`~outbound.guard.AddressRefused` (any
  :class:`~outbound.guard.OutboundError`) out of ``send`` and ``open``, not an ``httpx``
  error: callers translate it at their boundary. Failures come out as the httpx exceptions
  httpcore would raise (``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``,
  ``RemoteProtocolError`` ...): aiohttp's through :func:`translated_errors`, the wire's
  raised as such.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Final

import aiohttp
import httpx
import yarl
from aiohttp.abc import ResolveResult
from multidict import CIMultiDict

from outbound.guard import NetworkGuard
from outbound.wire import WirePool, WireResponse

_DEFAULT_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# aiohttp adds these when a request lacks them; httpx sends only what the request carries.
_NO_AUTO_HEADERS: Final = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class _GuardedConnector(aiohttp.TCPConnector):
    """Every destination, IP literals included, resolved by the guard; no DNS cache.

    aiohttp hands IP literals past its resolver, so the override is of the one method
    through which every direct connection learns its addresses (tests/unit/
    test_outbound_guard.py proves a loopback literal is refused).
    """

    def __init__(self, guard: NetworkGuard, *, limit: int, keepalive_timeout: float | None,
                 force_close: bool, ssl_context: ssl.SSLContext) -> None:
        super().__init__(use_dns_cache=False, limit=limit, limit_per_host=0,
                         keepalive_timeout=None if force_close else keepalive_timeout,
                         force_close=force_close, ssl=ssl_context)
        self._guard = guard

    async def _resolve_host(self, host: str, port: int,
                            traces: object = None) -> list[ResolveResult]:
        addresses = await self._guard.check_host(host, port)
        return [ResolveResult(hostname=host, host=address, port=port,
                              family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
                for address in addresses]


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose connections go to the addresses the guard checked."""

    def __init__(self, guard: NetworkGuard, *, limits: httpx.Limits = _DEFAULT_LIMITS,
                 verify: ssl.SSLContext | bool = True,
                 header_hooks: Sequence[Callable[[MutableMapping[str, str]], None]] = ()
                 ) -> None:
        """``header_hooks`` see each :meth:`open` request's headers before it is sent (an
        httpx client's ``event_hooks`` do that job for :meth:`handle_async_request`)."""
        self.guard = guard
        self._limits = limits
        self._header_hooks = tuple(header_hooks)
        self._ssl_context = httpx.create_ssl_context(verify=verify)
        self._session: aiohttp.ClientSession | None = None  # made in the loop that uses it
        self._wire = WirePool(guard, self._ssl_context,
                              max_connections=limits.max_connections,
                              max_keepalive_connections=limits.max_keepalive_connections,
                              keepalive_expiry=limits.keepalive_expiry)

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            limits = self._limits
            connector = _GuardedConnector(
                self.guard, limit=limits.max_connections or 0,
                keepalive_timeout=limits.keepalive_expiry,
                force_close=limits.max_keepalive_connections == 0,
                ssl_context=self._ssl_context)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                auto_decompress=False, skip_auto_headers=_NO_AUTO_HEADERS,
                timeout=aiohttp.ClientTimeout(total=None), requote_redirect_url=False)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{url.scheme}://'.")
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(total=None, connect=timeouts.get("pool"),
                                        sock_connect=timeouts.get("connect"),
                                        sock_read=timeouts.get("read"))
        body = await request.aread()
        session = self._client_session()
        with translated_errors(connecting=True):
            response = await session.request(
                request.method, yarl.URL(str(url), encoded=True),
                headers=request.headers.multi_items(), data=body or None,
                allow_redirects=False, timeout=timeout)
        version = response.version
        http_version = f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1"
        return httpx.Response(
            response.status, headers=list(response.raw_headers),
            stream=_ResponseBody(response),
            extensions={"http_version": http_version.encode("ascii"),
                        "reason_phrase": (response.reason or "").encode("latin-1", "replace")})

    async def open(self, method: str, url: str, headers: CIMultiDict[str], body: bytes | None,
                   *, seconds: float) -> WireResponse:
        """Send one request (no redirects followed) and return the response once its head has
        arrived; its body arrives decoded as ``Content-Encoding`` says (gzip, deflate).

        ``url`` is an absolute http(s) URL, already percent-encoded (as ``str(httpx.URL)``
        gives it); ``seconds`` bounds connecting and each read. The caller must ``release()``
        the response. Raises the guard's :class:`~outbound.guard.OutboundError` for a refused
        destination, else httpx exceptions, the body's reads included (:mod:`outbound.wire`).
        """
        for hook in self._header_hooks:
            hook(headers)
        return await self._wire.request(method, url, headers.items(), body, seconds=seconds)

    async def aclose(self) -> None:
        await self._wire.aclose()
        if self._session is not None:
            await self._session.close()


class _ResponseBody(httpx.AsyncByteStream):
    """The body as it arrives (encoded: httpx decodes); closing returns the connection to the
    pool when the body was read to its end, and closes it otherwise."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with translated_errors(connecting=False):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


@contextmanager
def translated_errors(*, connecting: bool) -> Iterator[None]:
    """aiohttp's failures as the httpx exceptions httpcore raises for the same events.

    The guard's :class:`~outbound.guard.OutboundError` passes through untouched.
    """
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
    except aiohttp.ClientConnectorError as exc:  # TLS failures included (certificate ...)
        raise httpx.ConnectError(str(exc)) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response." if connecting
            else "peer closed connection without sending complete message body") from exc
    except (aiohttp.ClientResponseError, aiohttp.ClientPayloadError) as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc)) from exc
    except aiohttp.ClientOSError as exc:
        error = httpx.WriteError if connecting else httpx.ReadError
        raise error(str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise httpx.TransportError(str(exc)) from exc
    except ValueError as exc:  # a header aiohttp will not write (a line break in it ...)
        raise httpx.LocalProtocolError(str(exc)) from exc
