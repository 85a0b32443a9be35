"""Webhook receivers: POST /webhook (source detected) and POST /webhook/{source}."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import BaseModel

from api.deps import IngestDep, WorkspaceDep
from api.ingest import workflow_id_for

router = APIRouter(tags=["webhooks"])


class DeliveryOut(BaseModel):
    id: int
    stream_key: str
    lifecycle: str
    workflow_id: str
    outcome: str


class WebhookAccepted(BaseModel):
    accepted: int
    deliveries: list[DeliveryOut]


_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "Malformed JSON"},
    404: {"description": "Unknown source (the answer lists the known ones)"},
    413: {"description": "Body over the size limit"},
    422: {"description": "Payload matches several sources: send X-Source"},
    503: {"description": "Temporal unavailable: nothing was acknowledged, retry"},
}


async def _accept(ingest: IngestDep, workspace: str, source: str | None, request: Request) -> WebhookAccepted:
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    accepted = await ingest.ingest(workspace=workspace, slug=source, body=body, headers=headers)
    return WebhookAccepted(
        accepted=len(accepted),
        deliveries=[
            DeliveryOut(
                id=a.id,
                stream_key=a.stream_key,
                lifecycle=a.lifecycle.value,
                workflow_id=workflow_id_for(workspace, a.stream_key),
                outcome=a.outcome,
            )
            for a in accepted
        ],
    )


@router.post("/webhook", status_code=status.HTTP_202_ACCEPTED, responses=_RESPONSES)
async def receive_detected(request: Request, ingest: IngestDep, workspace: WorkspaceDep) -> WebhookAccepted:
    """Receive alerts; the source comes from the X-Source header or the payload's shape."""
    return await _accept(ingest, workspace, None, request)


@router.post("/webhook/{source}", status_code=status.HTTP_202_ACCEPTED, responses=_RESPONSES)
async def receive_from(source: str, request: Request, ingest: IngestDep, workspace: WorkspaceDep) -> WebhookAccepted:
    """Receive alerts from a named source (alertmanager, webhook, ...)."""
    return await _accept(ingest, workspace, source, request)
