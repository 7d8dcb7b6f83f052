"""An aiohttp client session that connects to the addresses the guard checked — DNS rebinding
closed.

A guard that resolves a name, checks the answer and then lets the HTTP client resolve it
again can be fooled by a name whose second answer differs (rebinding with a near-zero TTL:
public first, ``127.0.0.1`` next). Here the name is resolved once, inside the connection.
What goes where:

- one ``aiohttp.ClientSession`` carries every request: :meth:`PinnedTransport.
  handle_async_request` (httpx's seam: ``httpx.AsyncClient``, ``Request``, ``Response``, its
  exceptions — GoHighLevel, webhook delivery) and :meth:`PinnedTransport.open` (api_call,
  where httpx's URL, request and response objects cost more CPU than the exchange itself);
  aiohttp's HTTP/1.1 parser does the framing (a response head of more than 128 header lines or
  8 KiB lines, a malformed or smuggled response, stray bytes after a response: refused or the
  connection closed, never read as the next request's answer);
- its ``TCPConnector`` resolves names through :class:`GuardedResolver`, aiohttp's public
  resolver seam: :meth:`NetworkGuard.check_host` (all addresses must be allowed), with no DNS
  cache, and the connection goes to those very addresses (``AI_NUMERICHOST``), never
  resolving again; an IP literal (which aiohttp does not resolve) is checked by the guard
  before the request; pooled keep-alive connections were checked when they were opened and
  serve only their own (scheme, host, port);
- the ``Host`` header is the URL's host, and TLS uses the URL's host name for SNI and
  certificate verification — what changes is only where the socket goes;
- no proxy from the environment, no cookie jar, no redirects (httpx's ``follow_redirects``
  and the callers' own redirect handling see every 3xx), no header the request does not
  carry; the httpx path does not decompress (httpx decodes the body as the
  ``Content-Encoding`` says, once), :meth:`~PinnedTransport.open` does (gzip, deflate, in
  bounded steps: a compression bomb costs only what is read);
- :meth:`~PinnedTransport.open` sends no framing header of the caller's
  (:data:`FRAMING_HEADERS`, ``Proxy-*``): aiohttp writes ``Host``, ``Content-Length`` and the
  connection's own headers itself;
- a refused destination raises :class:`~outbound.guard.AddressRefused` (any
  :class:`~outbound.guard.OutboundError`) out of ``send`` and ``open``, not an ``httpx``
  error: callers translate it at their boundary. Failures come out as the httpx exceptions
  httpcore would raise (``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``,
  ``RemoteProtocolError`` ...) through :func:`translated_errors`, the body's reads included.
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
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict, CIMultiDictProxy

from outbound.guard import NetworkGuard

_DEFAULT_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# aiohttp adds these when a request lacks them; httpx sends only what the request carries.
_NO_AUTO_HEADERS: Final = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_NUMERIC: Final = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
# A response head: at most this many header lines of at most this many bytes (aiohttp's own
# defaults, said here: an endless head is refused after ~1 MiB, not read until it ends).
_MAX_LINE: Final = 8190
_MAX_HEADERS: Final = 128
#: Headers that frame the message or steer the connection: the client writes them, a caller's
#: never reach the wire through :meth:`PinnedTransport.open` (nor do ``Proxy-*`` ones).
FRAMING_HEADERS: Final = frozenset({
    "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
    "upgrade", "host"})


def is_framing_header(name: str) -> bool:
    """Whether ``name`` (any case) is one of :data:`FRAMING_HEADERS` or a ``Proxy-*`` header."""
    lowered = name.strip().lower()
    return lowered in FRAMING_HEADERS or lowered.startswith("proxy-")


def _looks_numeric(host: str) -> bool:
    """What aiohttp takes for an IP address and connects to without asking the resolver."""
    return ":" in host or host.replace(".", "").isdigit()


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver seam: every name resolved and checked by the guard, the answer
    handed back as numeric addresses (so the connection goes where the guard looked)."""

    def __init__(self, guard: NetworkGuard) -> None:
        self._guard = guard

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = await self._guard.check_host(host, port)
        return [ResolveResult(hostname=host, host=address, port=port,
                              family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                              proto=0, flags=_NUMERIC)
                for address in addresses]

    async def close(self) -> None:
        return None


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

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            limits = self._limits
            force_close = limits.max_keepalive_connections == 0
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.guard), use_dns_cache=False,
                limit=limits.max_connections or 0, limit_per_host=0,
                keepalive_timeout=None if force_close else limits.keepalive_expiry,
                force_close=force_close, ssl=self._ssl_context)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                auto_decompress=False, skip_auto_headers=_NO_AUTO_HEADERS,
                timeout=aiohttp.ClientTimeout(total=None), requote_redirect_url=False,
                max_line_size=_MAX_LINE, max_field_size=_MAX_LINE, max_headers=_MAX_HEADERS)
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
        await self._check_literal(url.host)
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

    async def _check_literal(self, host: str) -> None:
        """An IP literal, which aiohttp connects to without resolving, checked by the guard."""
        name = host.removeprefix("[").removesuffix("]")
        if _looks_numeric(name):
            await self.guard.check_host(name)

    async def open(self, method: str, url: str, headers: CIMultiDict[str], body: bytes | None,
                   *, seconds: float) -> Opened:
        """Send one request (no redirects followed) and return the response once its head has
        arrived; its body arrives decoded as ``Content-Encoding`` says (gzip, deflate).

        ``url`` is an absolute http(s) URL, already percent-encoded (as ``str(httpx.URL)``
        gives it); ``seconds`` bounds connecting and each read. Framing headers in ``headers``
        are dropped (the client writes its own). The caller must ``release()`` the response.
        Raises the guard's :class:`~outbound.guard.OutboundError` for a refused destination,
        else httpx exceptions, the body's reads included.
        """
        for hook in self._header_hooks:
            hook(headers)
        sent = [(name, value) for name, value in headers.items() if not is_framing_header(name)]
        with translated_errors(connecting=True):
            target = yarl.URL(url, encoded=True)
            if target.scheme not in ("http", "https") or not target.host:
                raise httpx.UnsupportedProtocol(f"not an absolute http(s) URL: {url!r}")
            await self._check_literal(target.host)
            response = await self._client_session().request(
                method, target, headers=sent, data=body, allow_redirects=False,
                auto_decompress=True, timeout=aiohttp.ClientTimeout(
                    total=None, connect=seconds, sock_connect=seconds, sock_read=seconds))
        return Opened(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class Opened:
    """One exchange's response, for :meth:`PinnedTransport.open`'s caller: ``status``,
    ``headers``, ``raw_headers`` (names as sent), the decoded body through :meth:`chunks`
    (httpx errors), and :meth:`release`, which the caller must call."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._response.headers

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return self._response.raw_headers

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive, decoded."""
        with translated_errors(connecting=False):
            async for chunk in self._response.content.iter_any():
                yield chunk

    def release(self) -> None:
        """Back to the pool when the whole message arrived and the connection may be kept
        alive; closed otherwise (aiohttp decides). Idempotent."""
        if self._response.content.is_eof():
            self._response.release()
        else:
            self._response.close()


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
