"""Artifacts on local disk: screenshots, traces and reports kept for ``GET /artifacts/<id>``.

Layout under ``root``: ``<id>.bin`` holds the bytes and ``<id>.json`` the metadata (kind,
content type, name, size, creation time). The metadata file is written last and atomically,
so an artifact is visible to :meth:`FileArtifactStore.open` only once it is complete.

Ids are ``art_`` plus 32 random hex digits. :meth:`FileArtifactStore.open` refuses anything
else, which rules out path traversal (``../``, absolute paths, separators) by construction.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from schemas.tasks import Artifact, ArtifactKind

_ID_PATTERN: Final = re.compile(r"art_[0-9a-f]{32}")
_KINDS: Final[frozenset[str]] = frozenset({"screenshot", "trace", "report"})


class FileArtifactStore:
    """An :class:`executors.base.ArtifactSink` writing files under ``root``.

    ``save`` runs its file IO in a worker thread; ``open`` and ``prune`` are synchronous and
    cheap (a stat or a directory walk) and may be called from a request handler or a
    maintenance job.
    """

    def __init__(self, root: Path, *, url_prefix: str = "/artifacts") -> None:
        self.root = root
        self.url_prefix = url_prefix.rstrip("/")

    async def save(self, *, kind: str, content_type: str, data: bytes,
                   name: str | None = None) -> Artifact:
        """Store ``data`` under a fresh id; the returned Artifact's url is ``<prefix>/<id>``."""
        if kind not in _KINDS:
            raise ValueError(f"unknown artifact kind {kind!r} (kinds: {sorted(_KINDS)})")
        artifact_id = "art_" + secrets.token_hex(16)
        meta: dict[str, object] = {
            "kind": kind,
            "contentType": content_type,
            "name": name,
            "bytes": len(data),
            "createdAt": datetime.now(UTC).isoformat(),
        }
        await asyncio.to_thread(self._write, artifact_id, data, meta)
        artifact_kind: ArtifactKind = kind  # type: ignore[assignment]  # checked above
        return Artifact(id=artifact_id, kind=artifact_kind, content_type=content_type,
                        bytes=len(data), url=f"{self.url_prefix}/{artifact_id}", name=name)

    def open(self, artifact_id: str) -> tuple[Path, str] | None:
        """The file and content type of an artifact, or None if the id is not one of ours."""
        if not _ID_PATTERN.fullmatch(artifact_id):
            return None
        data_path = self.root / f"{artifact_id}.bin"
        meta_path = self.root / f"{artifact_id}.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not data_path.is_file():
            return None
        content_type = meta.get("contentType") if isinstance(meta, dict) else None
        return data_path, content_type if isinstance(content_type, str) else (
            "application/octet-stream")

    def prune(self, older_than: datetime) -> int:
        """Delete artifacts written before ``older_than``; returns how many were removed.

        Age is the modification time of the data file. Stray files (an interrupted save)
        older than the cut-off are removed too but not counted.
        """
        if not self.root.is_dir():
            return 0
        cutoff = older_than.timestamp()
        removed = 0
        for entry in self.root.iterdir():
            stem, _, suffix = entry.name.partition(".")
            if not _ID_PATTERN.fullmatch(stem) or suffix not in ("bin", "json", "tmp"):
                continue
            try:
                if entry.stat().st_mtime >= cutoff:
                    continue
                entry.unlink()
            except FileNotFoundError:
                continue
            if suffix == "bin":
                (self.root / f"{stem}.json").unlink(missing_ok=True)
                removed += 1
        return removed

    def remove(self, artifact_ids: list[str]) -> int:
        """Delete these artifacts (task retention); returns how many existed."""
        removed = 0
        for artifact_id in artifact_ids:
            if not _ID_PATTERN.fullmatch(artifact_id):
                continue
            for suffix in ("json", "tmp"):
                (self.root / f"{artifact_id}.{suffix}").unlink(missing_ok=True)
            data = self.root / f"{artifact_id}.bin"
            if data.is_file():
                data.unlink(missing_ok=True)
                removed += 1
        return removed

    def _write(self, artifact_id: str, data: bytes, meta: dict[str, object]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / f"{artifact_id}.bin").write_bytes(data)
        tmp = self.root / f"{artifact_id}.tmp"
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, self.root / f"{artifact_id}.json")
