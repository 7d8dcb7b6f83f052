"""The local HTTP sink that api_call benchmarks send their requests to, in its own process.

``running_sink()`` starts it on a free port of 127.0.0.1 and yields its URL
(``http://127.0.0.1:<port>/hook``); every request, whatever its method, path or query, is
answered ``200 {"ok":true}`` on a kept-alive connection. It runs in its own process so that
its CPU is neither the server's nor the peer's, and both do the same work against it.

"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.server import free_port  # noqa: E402

SINK = r"""
import asyncio, sys
RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: 11\r\n\r\n{\"ok\":true}")
class Sink(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.buf = b""
    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"): length = int(line.split(b":")[1])
            if len(rest) < length: return
            self.buf = rest[length:]
            self.t.write(RESPONSE)
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


@contextmanager
def running_sink() -> Iterator[str]:
    """The sink's URL while it runs; the process is ended on exit."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SINK, str(port)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
