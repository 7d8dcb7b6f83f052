"""Approval links (CONTRACT §16): a reviewer decides on a task from a page, without a key.

- ``tasks.approvalLink`` stores a random token's SHA-256 (``approval_links``) with the link's
  reviewer, expiry and a fingerprint of what an approval covers (executionConfig,
  scheduledFor, timeoutSeconds, maxRetries, dependsOn); the URL is
  ``<PUBLIC_URL>/approve/<token>``.
- ``GET`` shows a page rendered here (no script; the config masked as in every answer);
  the decision is a form POST to the same URL carrying a form token derived from the link
  (and refused when the browser says it is cross-site), then decided by the task service's
  own approve/reject with ``reviewedBy`` = the link's reviewer, audit actor ``link:<name>``.
- A link works once, only while the task is ``awaiting_review``, before its expiry and while
  the fingerprint still matches: otherwise 410 for GET and POST alike (404: no such link).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec

from schemas.approvals import ApprovalLink, ApprovalLinkInput
from server.core.errors import Conflict, ErrandsError, NotFound
from server.core.ids import new_id
from server.core.lifecycle import Status
from server.db import approval_links as link_rows
from server.db import repositories as repo
from server.db.engine import Database
from server.db.repositories import Row
from server.db.rows import TaskRow
from server.services.audit import Actor
from server.services.secrets_box import SecretBox
from server.services.tasks import TaskService
from server.services.views import mask_config

_ENCODER: Final = msgspec.json.Encoder(order="sorted")
_STYLE: Final = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "color:#1d2330}h1{font-size:1.4rem}dt{font-weight:600}pre{background:#f3f5f8;padding:.75rem;"
    "overflow:auto;border-radius:6px}textarea{width:100%;min-height:5rem}"
    "button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.75rem;border-radius:6px}"
    ".approve{background:#17663a;color:#fff;border:0}.reject{background:#fff;color:#9b1c1c;"
    "border:1px solid #9b1c1c}")
_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
#: The console's headers (CONTRACT §13), with the one inline style allowed by its hash.
HEADERS: Final = {
    "content-security-policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class Page:
    status: int
    html: str


def fingerprint(row: TaskRow) -> str:
    """What an approval covers, hashed: a link made before a change of these is stale."""
    covered = {"executionConfig": row.execution_config,
               "scheduledFor": row.scheduled_for.isoformat() if row.scheduled_for else None,
               "timeoutSeconds": row.timeout_seconds, "maxRetries": row.max_retries,
               "dependsOn": list(row.depends_on or [])}
    return hashlib.sha256(_ENCODER.encode(covered)).hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApprovalLinkService:
    def __init__(self, db: Database, tasks: TaskService, box: SecretBox,
                 clock: Callable[[], datetime], *, base_url: str) -> None:
        self.db = db
        self.tasks = tasks
        self.box = box
        self.clock = clock
        self.base_url = base_url.rstrip("/")

    async def create(self, data: ApprovalLinkInput, actor: Actor) -> ApprovalLink:
        async with self.db.read() as conn:
            row = await repo.task_get(conn, data.id)
        if row is None:
            raise NotFound(f"no task with id {data.id!r}")
        if row.status != Status.AWAITING_REVIEW:
            raise Conflict(f"an approval link is for a task awaiting_review; this one is "
                           f"{row.status}")
        url, expires_at = await self.make(row, data.reviewer, data.expires_in_seconds)
        return ApprovalLink(url=url, expires_at=expires_at)

    async def make(self, row: TaskRow, reviewer: str, seconds: int) -> tuple[str, datetime]:
        """A new link for ``row``: its URL and expiry."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires_at = now + timedelta(seconds=seconds)
        async with self.db.write() as conn:
            await link_rows.link_insert(conn, {
                "id": new_id("apl"), "task_id": row.id, "token_hash": _hash(token),
                "reviewer": reviewer, "config_hash": fingerprint(row), "created_at": now,
                "expires_at": expires_at, "used_at": None})
        return f"{self.base_url}/approve/{token}", expires_at

    # --- the page --------------------------------------------------------------------------

    async def _valid(self, token: str) -> tuple[Row, TaskRow] | Page:
        async with self.db.read() as conn:
            link = await link_rows.link_by_hash(conn, _hash(token))
            task = None if link is None else await repo.task_get(conn, link.task_id)
        if link is None or task is None:
            return _message(404, "No such link", "This approval link does not exist.")
        why = None
        if link.used_at is not None:
            why = "This link has been used already."
        elif link.expires_at <= self.clock():
            why = "This link has expired."
        elif task.status != Status.AWAITING_REVIEW:
            why = f"This task is no longer awaiting review (it is {task.status})."
        elif not hmac.compare_digest(link.config_hash, fingerprint(task)):
            why = "The task's configuration changed after this link was made."
        if why is not None:
            return _message(410, "Link no longer valid", why)
        return link, task

    def _form_token(self, link: Row) -> str:
        return self.box.token("approval-form:" + link.id)

    async def show(self, token: str) -> Page:
        found = await self._valid(token)
        if isinstance(found, Page):
            return found
        link, task = found
        return Page(200, _decision_page(task, link.reviewer, token, self._form_token(link)))

    async def decide(self, token: str, form: dict[str, str], *, cross_site: bool) -> Page:
        found = await self._valid(token)
        if isinstance(found, Page):
            return found
        link, task = found
        if cross_site or not hmac.compare_digest(form.get("form", ""), self._form_token(link)):
            return _message(403, "Refused", "This decision did not come from the link's page.")
        decision = form.get("decision")
        if decision not in ("approve", "reject"):
            return _message(400, "Choose", "Press Approve or Reject.")
        notes = form.get("notes", "").strip()[:2000] or None
        async with self.db.write() as conn:
            if not await link_rows.link_use(conn, link.id, self.clock()):
                return _message(410, "Link no longer valid", "This link has been used already.")
        actor = Actor(f"link:{link.reviewer}", "reviewer")
        try:
            if decision == "approve":
                await self.tasks.approve(task.id, reviewer=link.reviewer, notes=notes,
                                         actor=actor)
            else:
                await self.tasks.reject(task.id, reviewer=link.reviewer, notes=notes,
                                        actor=actor)
        except ErrandsError as exc:
            async with self.db.write() as conn:
                await link_rows.link_use(conn, link.id, None)  # nothing was decided
            return _message(410 if isinstance(exc, Conflict) else 409, "Not recorded",
                            exc.message)
        done = "approved" if decision == "approve" else "rejected"
        return _message(200, f"Task {done}", f"“{task.title}” was {done} as {link.reviewer}.")


def _document(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="referrer" content="no-referrer">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>")


def _message(status: int, title: str, text: str) -> Page:
    return Page(status, _document(title, f"<h1>{html.escape(title)}</h1>"
                                         f"<p>{html.escape(text)}</p>"))


def _decision_page(task: TaskRow, reviewer: str, token: str, form_token: str) -> str:
    config = msgspec.json.format(
        msgspec.json.encode(mask_config(task.task_type, task.execution_config)), indent=2
    ).decode()
    extra: list[tuple[str, Any]] = [("Type", task.task_type), ("Task id", task.id),
                                    ("Priority", task.priority)]
    if task.description:
        extra.append(("Description", task.description))
    if task.scheduled_for:
        extra.append(("Scheduled for", task.scheduled_for.isoformat()))
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in extra)
    body = (
        f"<h1>{html.escape(task.title)}</h1>"
        f"<p>Review as <strong>{html.escape(reviewer)}</strong>.</p>"
        f"<dl>{rows}</dl><h2>Configuration</h2><pre>{html.escape(config)}</pre>"
        f'<form method="post" action="/approve/{html.escape(token)}">'
        f'<input type="hidden" name="form" value="{html.escape(form_token)}">'
        f'<p><label for="notes">Notes</label><br>'
        f'<textarea id="notes" name="notes" maxlength="2000"></textarea></p>'
        f'<button class="approve" type="submit" name="decision" value="approve">Approve</button>'
        f'<button class="reject" type="submit" name="decision" value="reject">Reject</button>'
        f"</form>")
    return _document(f"Review: {task.title}", body)
