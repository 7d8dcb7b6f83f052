"""The benchmarks' peers, each installed into a throw-away environment kept as a cache.

- ``procrastinate_python(venv)``: a venv with Procrastinate 3, psycopg and httpx
  (``python -m venv``; ``pip install``), for ``scripts/bench_pipeline`` and
  ``scripts/bench_scheduler``;
- ``run_procrastinate(venv, code, database, *args)``: runs a peer script in it against a fresh
  PostgreSQL database (dropped afterwards) and returns the JSON object it prints last;
- ``arq_python(venv)``: a venv with arq 0.28 and httpx, for ``scripts/bench_pipeline``;
- ``run_arq(venv, code, *args)``: runs a peer script in it against a redis-server of its own
  (the machine's ``/usr/bin/redis-server`` on a free port, a temporary directory, no
  persistence: ``--save '' --appendonly no``), stopped afterwards.

The Node peer of ``scripts/bench_rpc`` (``@trpc/server`` + ``pg``) is installed by that script.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.databases import (  # noqa: E402
    PG_HOST,
    PG_PORT,
    PG_USER,
    create_postgres_database,
    drop_postgres_database,
)

PROCRASTINATE_PACKAGES = ("procrastinate>=3,<4", "psycopg[binary]>=3.1", "httpx>=0.27")
DEFAULT_VENV = Path("/tmp/errands-bench-procrastinate")
ARQ_PACKAGES = ("arq>=0.28,<0.29", "httpx>=0.27")
ARQ_VENV = Path("/tmp/errands-bench-arq")
REDIS_SERVER = "/usr/bin/redis-server"


def _peer_venv(venv: Path, packages: tuple[str, ...], probe: str) -> Path:
    """The venv's python with ``packages`` installed (made once, then reused)."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", probe]
    if not python.exists() or subprocess.run(check, capture_output=True).returncode != 0:
        print(f"installing the peer into {venv} (pip install {' '.join(packages)}) ...",
              flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *packages], check=True)
    return python


def procrastinate_python(venv: Path = DEFAULT_VENV) -> Path:
    """The venv's python, with Procrastinate 3 installed (made once, then reused)."""
    return _peer_venv(venv, PROCRASTINATE_PACKAGES,
                      "import procrastinate, psycopg, httpx; "
                      "assert procrastinate.__version__.startswith('3.')")


def arq_python(venv: Path = ARQ_VENV) -> Path:
    """The venv's python, with arq 0.28 installed (made once, then reused)."""
    return _peer_venv(venv, ARQ_PACKAGES, "import arq, httpx; "
                      "assert arq.VERSION.startswith('0.28')")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_arq(python: Path, name: str, code: str, *args: object,
            timeout: float = 1800) -> dict[str, Any]:
    """Write ``code`` as ``<venv>/<name>.py`` and run it with the URL of a redis-server of its
    own and ``args``; its last stdout line is a JSON object, returned."""
    if shutil.which(REDIS_SERVER) is None:
        raise RuntimeError(f"{REDIS_SERVER} is not installed (apt-get install redis-server)")
    script = python.parent.parent / f"{name}.py"
    script.write_text(code)
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="errands-bench-redis-") as tmp:
        redis = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or redis.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
            try:
                out = subprocess.run([str(python), str(script), f"redis://127.0.0.1:{port}",
                                      *map(str, args)], check=True, capture_output=True,
                                     text=True, timeout=timeout)
            except subprocess.CalledProcessError as exc:
                raise RuntimeError(f"the arq peer failed:\n{exc.stderr[-3000:]}") from None
        finally:
            redis.terminate()
            redis.wait(10)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_procrastinate(python: Path, name: str, code: str, *args: object,
                      timeout: float = 1800) -> dict[str, Any]:
    """Write ``code`` as ``<venv>/<name>.py`` and run it with the connection string of a fresh
    database and ``args``; its last stdout line is a JSON object, returned."""
    script = python.parent.parent / f"{name}.py"
    script.write_text(code)
    _, database = create_postgres_database()
    conninfo = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"
    try:
        out = subprocess.run([str(python), str(script), conninfo, *map(str, args)],
                             check=True, capture_output=True, text=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"the Procrastinate peer failed:\n{exc.stderr[-3000:]}") from None
    finally:
        drop_postgres_database(database)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
