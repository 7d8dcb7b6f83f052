"""claims.quarantine: a task whose last attempt was lost runs alone (CONTRACT §13)."""

from __future__ import annotations

from server.core.claims import Candidate, quarantine


def _c(name: str, suspect: bool = False) -> Candidate:
    return Candidate(name, "api_call", None, suspect)


def test_without_suspects_every_candidate_is_taken() -> None:
    found = [_c("a"), _c("b")]
    assert quarantine(found, running=3, suspect_running=False) == found


def test_a_suspect_runs_alone_when_nothing_else_runs() -> None:
    found = [_c("s", suspect=True), _c("a"), _c("t", suspect=True)]
    assert quarantine(found, running=0, suspect_running=False) == [_c("s", suspect=True)]


def test_a_suspect_keeps_its_place_the_process_drains_first() -> None:
    found = [_c("a"), _c("s", suspect=True), _c("b")]
    # What is ahead of it goes; nothing behind it (it would have to wait for them too).
    assert quarantine(found, running=0, suspect_running=False) == [_c("a")]
    assert quarantine(found, running=2, suspect_running=False) == [_c("a")]
    assert quarantine(found[1:], running=2, suspect_running=False) == []


def test_nothing_runs_beside_a_suspect() -> None:
    assert quarantine([_c("a"), _c("b")], running=1, suspect_running=True) == []
