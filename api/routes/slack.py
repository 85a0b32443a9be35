"""Slack interactivity: the Approve / Reject buttons on an incident card become approval updates.

Slack signs every request with the app's signing secret; the signature is checked over the raw body
before anything parses it. The button press is answered within Slack's three seconds: the verdict
comes from the workflow's approval update (validated there: role, workspace, pending state, expiry,
two-person rule), the action runs afterwards in the workflow, and the notify activity updates the card
with who approved. The gateway itself never posts to Slack.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from adapters.storage import repositories as repo
from api.deps import MAX_ID, StateDep
from api.ingest import IngestError
from api.security import SignatureError, verify_slack_signature
from domain.actions import Role
from domain.models import ApprovalInput, ApprovalVerdict
from domain.oncall import OncallFile
from domain.settings import ConfigError, WorkspaceConfig, load_yaml

log = logging.getLogger(__name__)

router = APIRouter(tags=["slack"])

# Slack gives up after three seconds; answer before that and let a slow update finish on its own.
ANSWER_WITHIN_SECONDS = 2.5
_background: set[asyncio.Task[Any]] = set()


class ButtonValue(BaseModel):
    """What the card's buttons carry (set by adapters/notify/slack.py)."""

    incident_id: int = Field(ge=1, le=MAX_ID)
    action_id: str = Field(max_length=64)
    workspace: str = Field(max_length=64)


class SlackAnswer(BaseModel):
    """Slack shows `text` to the person who pressed the button only (ephemeral)."""

    response_type: str = "ephemeral"
    replace_original: bool = False
    text: str


def _verified_workspaces(request_body: bytes, headers: Any, workspaces: list[WorkspaceConfig]) -> list[str]:
    """Workspaces whose Slack signing secret signed this body; 401 when none did."""
    now = time.time()
    matched: list[str] = []
    problem = "no workspace has a Slack app configured (slack.signing_secrets in workspaces.yaml)"
    for ws in workspaces:
        if ws.slack is None:
            continue
        try:
            secrets = ws.slack.secrets(ws.name)
        except ConfigError as exc:
            log.error("Slack signing secret unavailable: %s", exc)
            raise IngestError(503, f"workspace {ws.name}: the Slack signing secret cannot be read") from None
        for secret in secrets:
            try:
                verify_slack_signature(body=request_body, headers=headers, secret=secret, now=now)
            except SignatureError as exc:
                problem = str(exc)
                continue
            matched.append(ws.name)
            break
    if not matched:
        raise IngestError(401, problem)
    return matched


def _person(state: Any, user_id: str) -> str | None:
    """The on-call directory name of a Slack member (so approvals read "alice", like everywhere else)."""
    try:
        directory = load_yaml(state.settings.config_dir / "oncall.yaml", OncallFile)
    except ConfigError:
        return None
    return next((name for name, p in directory.people.items() if p.slack == user_id), None)


@router.post(
    "/slack/interactions",
    responses={
        401: {"description": "Missing, wrong or stale Slack signature"},
        400: {"description": "Not a Slack interaction payload"},
    },
)
async def interactions(request: Request, state: StateDep) -> SlackAnswer:
    """Slack's interactivity request URL: Approve / Reject pressed on an incident card."""
    body = await request.body()
    verified = _verified_workspaces(body, request.headers, state.workspaces.all())
    # Only now is the body parsed: application/x-www-form-urlencoded with one `payload` field of JSON.
    try:
        payload = json.loads(parse_qs(body.decode("utf-8"), strict_parsing=True)["payload"][0])
        if not isinstance(payload, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise IngestError(400, "expected a form body with a `payload` field holding Slack's JSON") from None
    if payload.get("type") != "block_actions":
        return SlackAnswer(text="Nothing to do for this interaction.")
    pressed = next(
        (
            a
            for a in payload.get("actions") or []
            if isinstance(a, dict) and a.get("action_id") in ("approve", "reject")
        ),
        None,
    )
    if pressed is None:
        return SlackAnswer(text="Nothing to do for this button.")
    try:
        value = ButtonValue.model_validate_json(pressed.get("value") or "")
    except ValidationError:
        raise IngestError(400, "the button's value is not an AI-SRE action reference") from None
    if value.workspace not in verified:
        # Signed by another workspace's Slack app: it may not act on this workspace's incidents.
        raise IngestError(401, "the request was not signed by this workspace's Slack app")
    slack = state.workspaces.get(value.workspace).slack
    assert slack is not None
    team = (payload.get("team") or {}).get("id")
    if slack.team_id is not None and team != slack.team_id:
        raise IngestError(401, "the request comes from another Slack team")
    user = payload.get("user") or {}
    user_id = str(user.get("id") or "")
    role = slack.roles.get(user_id)
    if role is None:
        return SlackAnswer(text="You are not allowed to approve or reject actions in this workspace.")
    by = _person(state, user_id) or f"slack:{user_id}"
    async with state.db.session() as session:
        row = await repo.get_incident(session, incident_id=value.incident_id, workspace=value.workspace)
    if row is None:
        return SlackAnswer(text=f"Incident #{value.incident_id} does not exist in this workspace.")
    verb = str(pressed["action_id"])
    arg = ApprovalInput(
        action_id=value.action_id,
        by=by,
        role=Role(role),
        workspace=value.workspace,
        incident_id=row.id,
        reason="from Slack",
    )
    client = await state.temporal.client()
    update = asyncio.ensure_future(
        client.get_workflow_handle(row.workflow_id).execute_update(verb, arg, result_type=ApprovalVerdict)
    )
    try:
        verdict = await asyncio.wait_for(asyncio.shield(update), ANSWER_WITHIN_SECONDS)
    except TimeoutError:
        _background.add(update)
        update.add_done_callback(_finished)
        return SlackAnswer(text="Working on it: the card will show the verdict.")
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        return SlackAnswer(text=f"Not done: {getattr(cause, 'message', None) or cause or exc}")
    except RPCError as exc:
        log.warning("Slack %s of incident %s: %s", verb, row.id, exc)
        return SlackAnswer(text="The incident has no open workflow run any more.")
    words = {
        "approved": "Approved",
        "rejected": "Rejected",
        "awaiting_second_approver": "Approved; a second approver is needed",
    }
    return SlackAnswer(text=f"{words.get(verdict.verdict, verdict.verdict)} by {by}.")


def _finished(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("a Slack approval finished after the answer with an error: %s", task.exception())
