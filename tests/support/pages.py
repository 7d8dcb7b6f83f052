"""A small site served on a loopback address for the browser and extraction tests.

``serve_pages(host)`` runs a threaded stdlib HTTP server on ``host`` (any 127.x.y.z address)
and a free port, and records every request path in ``PageServer.hits`` so a test can tell
whether the browser reached it. Routes:

- ``/form``: a two-step form (name → Next → email → Submit) posting to ``/submit``, which
  answers ``Thanks, <name> <email>`` in ``#result``.
- ``/delayed?ms=N``: ``#late`` items inserted by a script after N ms (default 600).
- ``/products``: a product list with prices in several formats, relative links and images.
- ``/redirect?to=URL``: 302 to URL. ``/image-page?src=URL``: a page with ``<img src=URL>``.
- ``/secret``: a page the guard must keep the browser away from. ``/pixel.png``: a PNG.
- ``/hold?ms=N``: a page that answers after N ms, counting how many are in flight at once.
- ``/never``: a page whose ``#never`` element never appears.
- ``/shadow``: ``.price`` items in the document and inside an open shadow root.
- ``/media-page``: a page with a stylesheet (``/style.css``, which hides ``#hidden`` and uses
  a web font ``/font.woff2``), an image ``/photo.png`` and a video ``/clip.webm``.
- ``/ticker``: a page whose ``#tick`` counter and background colour change four times a
  second (the live view's frames must change while it runs).
"""

from __future__ import annotations

import html
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


PIXEL_PNG = _png_1x1()

FORM_PAGE = """<!doctype html><html><head><title>Sign up</title></head><body>
<form id="signup" method="post" action="/submit">
  <section id="step1"><input id="name" name="name"><button type="button" id="next">Next</button>
  </section>
  <section id="step2" hidden><input id="email" name="email">
    <button type="submit" id="submit">Submit</button></section>
</form>
<script>
document.getElementById('next').addEventListener('click', () => {
  setTimeout(() => { document.getElementById('step1').hidden = true;
                     document.getElementById('step2').hidden = false; }, 200);
});
</script></body></html>"""

DELAYED_PAGE = """<!doctype html><html><head><title>Later</title></head><body>
<ul id="list"></ul>
<script>
setTimeout(() => {
  const list = document.getElementById('list');
  for (const [name, price] of [['Alpha', '$10.50'], ['Beta', '$20.00']]) {
    const li = document.createElement('li');
    li.className = 'late';
    li.innerHTML = '<span class="name">' + name + '</span> <b class="price">' + price + '</b>';
    list.appendChild(li);
  }
}, %d);
</script></body></html>"""

PRODUCTS_PAGE = """<!doctype html><html><head><title>Products</title></head><body>
<h1 id="heading">  Our   products </h1>
<div class="product" data-sku="A1">
  <a class="title" href="/p/widget">Widget</a>
  <span class="price">$1,299.00</span>
  <img class="photo" src="img/widget.png" alt="w">
  <ul class="tags"><li>tools</li><li>metal</li></ul>
  <div class="seller"><span class="seller-name">ACME</span><em class="rating">4.5 / 5</em></div>
  <p class="desc">A <b>fine</b> widget</p>
</div>
<div class="product" data-sku="B2">
  <a class="title" href="https://example.test/gadget">Gadget</a>
  <span class="price">1.299,50 €</span>
  <img class="photo" src="/img/gadget.png" alt="g">
  <ul class="tags"><li>gadgets</li></ul>
  <div class="seller"><span class="seller-name">Globex</span><em class="rating">n/a</em></div>
  <p class="desc">Gadget</p>
</div>
<div class="product" data-sku="C3">
  <a class="title" href="p/free">Freebie</a>
  <span class="price">Free</span>
  <ul class="tags"></ul>
  <p class="desc">Free</p>
</div>
</body></html>"""

NEVER_PAGE = """<!doctype html><html><head><title>Never</title></head><body>
<p id="here">here</p></body></html>"""

SHADOW_PAGE = """<!doctype html><html><head><title>Shadow</title></head><body>
<b class="price">$1</b>
<div id="host"></div>
<b class="price">$3</b>
<script>
document.getElementById('host').attachShadow({mode: 'open'}).innerHTML =
  '<b class="price">$2</b><span class="inner">inside</span>';
</script></body></html>"""


MEDIA_PAGE = """<!doctype html><html><head><title>Media</title>
<link rel="stylesheet" href="/style.css"></head><body>
<h1 id="heading">Media</h1><p id="hidden">hidden by the stylesheet</p>
<img src="/photo.png" alt="p"><video src="/clip.webm" autoplay muted preload="auto"></video>
</body></html>"""

MEDIA_STYLE = """@font-face { font-family: Brand; src: url(/font.woff2) format("woff2"); }
body { font-family: Brand, sans-serif; } #hidden { display: none; }"""


# path → (body, content type): the routes that always answer the same.
TICKER_PAGE = """<!doctype html><html><head><title>Ticker</title>
<style>body{margin:0;font:64px sans-serif}</style></head><body><p id="tick">0</p><script>
let n = 0;
setInterval(() => {
  n += 1;
  document.getElementById('tick').textContent = String(n);
  document.body.style.background = `hsl(${(n * 47) % 360} 70% 60%)`;
}, 250);
</script></body></html>"""

STATIC: dict[str, tuple[str | bytes, str]] = {
    "/ticker": (TICKER_PAGE, "text/html"),
    "/products": (PRODUCTS_PAGE, "text/html"),
    "/secret": ("<title>Secret</title><p id='secret'>internal data</p>", "text/html"),
    "/pixel.png": (PIXEL_PNG, "image/png"),
    "/never": (NEVER_PAGE, "text/html"),
    "/shadow": (SHADOW_PAGE, "text/html"),
    "/media-page": (MEDIA_PAGE, "text/html"),
    "/style.css": (MEDIA_STYLE, "text/css"),
    "/photo.png": (PIXEL_PNG, "image/png"),
}


@dataclass
class PageServer:
    host: str
    port: int
    hits: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        site = self.server.site
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with site.lock:
            site.hits.append(parts.path)
        path = parts.path
        if path == "/form":
            self._send(200, FORM_PAGE)
        elif path == "/submit":
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            who = html.escape(f"{form.get('name', '')} {form.get('email', '')}")
            self._send(200, f"<title>Done</title><p id='result'>Thanks, {who}</p>")
        elif path == "/delayed":
            self._send(200, DELAYED_PAGE % int(query.get("ms", "600")))
        elif path in STATIC:
            self._send(200, *STATIC[path])
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/image-page":
            src = html.escape(query["src"])
            self._send(200, f"<title>Image</title><p id='ok'>ok</p><img id='img' src='{src}'>")
        elif path == "/hold":
            self._hold(int(query.get("ms", "300")))
        else:
            self._send(404, "<title>Not found</title>")

    def _hold(self, ms: int) -> None:
        site = self.server.site
        with site.lock:
            site.in_flight += 1
            site.max_in_flight = max(site.max_in_flight, site.in_flight)
        try:
            time.sleep(ms / 1000)
        finally:
            with site.lock:
                site.in_flight -= 1
        self._send(200, "<title>Held</title><p id='held'>held</p>")

    def _send(self, status: int, body: str | bytes, content_type: str = "text/html") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8"
                         if content_type.startswith("text/") else content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: PageServer


@contextmanager
def serve_pages(host: str = "127.0.0.1") -> Iterator[PageServer]:
    """Serve the test site on ``host`` and a free port until the block ends."""
    server = _Server((host, 0), _Handler)
    server.site = PageServer(host=host, port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name=f"pages-{host}", daemon=True)
    thread.start()
    try:
        yield server.site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
