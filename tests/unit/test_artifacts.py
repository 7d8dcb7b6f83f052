"""FileArtifactStore: save, open, refuse foreign ids, prune by age."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from executors.base import ArtifactSink, ExecutionContext, PermanentError
from server.node.artifacts import FileArtifactStore


async def test_save_then_open_returns_the_bytes_and_content_type(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "artifacts")
    artifact = await store.save(kind="screenshot", content_type="image/png", data=b"\x89PNG..",
                                name="home")

    assert artifact.kind == "screenshot"
    assert artifact.bytes == 6
    assert artifact.name == "home"
    assert artifact.url == f"/artifacts/{artifact.id}"
    opened = store.open(artifact.id)
    assert opened is not None
    path, content_type = opened
    assert path.read_bytes() == b"\x89PNG.."
    assert content_type == "image/png"


async def test_ids_are_unique_and_url_prefix_is_honoured(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path, url_prefix="/files/")
    first = await store.save(kind="report", content_type="text/plain", data=b"a")
    second = await store.save(kind="report", content_type="text/plain", data=b"a")
    assert first.id != second.id
    assert first.url == f"/files/{first.id}"


def _context(sink: ArtifactSink | None) -> ExecutionContext:
    return ExecutionContext(task_id="t_1", execution_id="exe_1", attempt_number=1,
                            triggered_by="create", worker_id="w", clock=lambda: datetime.now(UTC),
                            artifacts_sink=sink)


async def test_an_executor_saves_through_the_store_and_the_attempt_lists_it(
        tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    ctx = _context(store)
    artifact = await ctx.save_artifact(kind="screenshot", content_type="image/png",
                                       data=b"png", name="failure")
    assert ctx.artifacts == [artifact]
    opened = store.open(artifact.id)
    assert opened is not None and opened[0].read_bytes() == b"png"


async def test_saving_without_a_store_is_a_permanent_config_error() -> None:
    ctx = _context(None)
    with pytest.raises(PermanentError) as raised:
        await ctx.save_artifact(kind="report", content_type="text/plain", data=b"x")
    assert raised.value.error_type == "config" and ctx.artifacts == []


@pytest.mark.parametrize("artifact_id", [
    "../etc/passwd",
    "art_../../x",
    "/etc/passwd",
    "art_" + "0" * 31,
    "art_" + "g" * 32,
    "ART_" + "0" * 32,
    "art_" + "0" * 32 + "/../x",
    "",
])
def test_open_refuses_ids_that_are_not_ours(tmp_path: Path, artifact_id: str) -> None:
    (tmp_path / "passwd").write_text("secret")
    assert FileArtifactStore(tmp_path).open(artifact_id) is None


def test_open_unknown_well_formed_id_is_none(tmp_path: Path) -> None:
    assert FileArtifactStore(tmp_path).open("art_" + "a" * 32) is None


async def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        await FileArtifactStore(tmp_path).save(kind="video", content_type="video/mp4", data=b"")


async def test_prune_removes_only_older_artifacts(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    old = await store.save(kind="trace", content_type="application/zip", data=b"old")
    new = await store.save(kind="trace", content_type="application/zip", data=b"new")
    (tmp_path / "keep-me.txt").write_text("not an artifact")
    long_ago = (datetime.now(UTC) - timedelta(days=30)).timestamp()
    for suffix in (".bin", ".json"):
        os.utime(tmp_path / f"{old.id}{suffix}", (long_ago, long_ago))

    removed = store.prune(datetime.now(UTC) - timedelta(days=14))

    assert removed == 1
    assert store.open(old.id) is None
    assert store.open(new.id) is not None
    assert (tmp_path / "keep-me.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["keep-me.txt", f"{new.id}.bin", f"{new.id}.json"])


def test_prune_of_a_missing_directory_is_zero(tmp_path: Path) -> None:
    assert FileArtifactStore(tmp_path / "nope").prune(datetime.now(UTC)) == 0
