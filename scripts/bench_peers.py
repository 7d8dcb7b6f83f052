"""The benchmarks' peers, each installed into a throw-away environment kept as a cache.

- ``procrastinate_python(venv)``: a venv with Procrastinate 3, psycopg and httpx
  (``python -m venv``; ``pip install``), for ``scripts/bench_pipeline`` and
  ``scripts/bench_scheduler``;
- ``run_procrastinate(venv, code, database, *args)``: runs a peer script in it against a fresh
  PostgreSQL database (dropped afterwards) and returns the JSON object it prints last.

The Node peer of ``scripts/bench_rpc`` (``@trpc/server`` + ``pg``) is installed by that script.
"""

from __future__ import annotations

import json
import subprocess
import sys
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


def procrastinate_python(venv: Path = DEFAULT_VENV) -> Path:
    """The venv's python, with Procrastinate 3 installed (made once, then reused)."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import procrastinate, psycopg, httpx; "
             "assert procrastinate.__version__.startswith('3.')"]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        print(f"installing the peer into {venv} (pip install "
              f"{' '.join(PROCRASTINATE_PACKAGES)}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *PROCRASTINATE_PACKAGES], check=True)
    return python


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
