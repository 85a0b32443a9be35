"""Deploy events: POST /deploys (our JSON or GitHub's deployment_status webhook), GET /deploys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ValidationError

from adapters.storage import repositories as repo
from adapters.storage.orm import DeployEventRow
from api.deps import DbDep, IngestDep, WorkspaceDep
from api.ingest import IngestError, parse_json
from domain.deploys import DeployIn, DeployParseError, from_github_deployment_status

router = APIRouter(prefix="/deploys", tags=["deploys"])


class DeployOut(BaseModel):
    id: int
    service: str
    version: str | None
    namespace: str | None
    environment: str | None
    commit: str | None
    author: str | None
    status: str
    url: str | None
    description: str
    origin: str
    deployed_at: datetime
    received_at: datetime

    @classmethod
    def of(cls, row: DeployEventRow) -> DeployOut:
        return cls(
            id=row.id,
            service=row.service,
            version=row.version,
            namespace=row.namespace,
            environment=row.environment,
            commit=row.commit,
            author=row.author,
            status=row.status,
            url=row.url,
            description=row.description,
            origin=row.origin,
            deployed_at=row.deployed_at,
            received_at=row.received_at,
        )


def _parse(body: bytes, headers: dict[str, str]) -> tuple[DeployIn, str]:
    payload = parse_json(body)
    event = headers.get("x-github-event")
    if event is not None or (isinstance(payload, dict) and "deployment_status" in payload):
        if event not in (None, "deployment_status"):
            raise IngestError(422, f"GitHub event {event!r} is not a deployment; subscribe to deployment_status")
        try:
            return from_github_deployment_status(payload), "github"
        except DeployParseError as exc:
            raise IngestError(422, str(exc)) from None
    try:
        return DeployIn.model_validate(payload), "api"
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise IngestError(422, f"invalid deploy: {problems}") from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The same deployment (same id) was already recorded"},
        401: {"description": "Signature missing or wrong where the workspace configured a secret"},
        422: {"description": "Not a deploy event (the reason is given)"},
    },
)
async def record_deploy(
    request: Request, response: Response, db: DbDep, ingest: IngestDep, workspace: WorkspaceDep
) -> DeployOut:
    """Record a deployment of a service, for correlating incidents with recent changes."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    deploy, origin = _parse(body, headers)
    ingest.verify(workspace=workspace, source="github" if origin == "github" else "deploys", body=body, headers=headers)
    now = datetime.now(UTC)
    when = deploy.time if deploy.time is not None else now
    if when.tzinfo is None:
        raise IngestError(422, "invalid deploy: time: needs a time zone offset (e.g. 2026-11-28T10:00:00Z)")
    async with db.session() as session:
        row, created = await repo.insert_deploy(
            session,
            workspace=workspace,
            deploy=repo.NewDeploy(
                service=deploy.service,
                version=deploy.version,
                namespace=deploy.namespace,
                environment=deploy.environment,
                commit=deploy.commit,
                author=deploy.author,
                status=deploy.status,
                url=deploy.url,
                description=deploy.description,
                origin=origin,
                external_id=deploy.id,
                deployed_at=when.astimezone(UTC),
            ),
            at=now,
        )
    if not created:
        response.status_code = status.HTTP_200_OK
    return DeployOut.of(row)


@router.get("")
async def list_deploys(
    db: DbDep,
    workspace: WorkspaceDep,
    service: Annotated[str | None, Query(max_length=255)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeployOut]:
    """Deploys of the workspace, newest first; filter by service and time range."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise IngestError(422, f"{name} needs a time zone offset (e.g. 2026-11-28T10:00:00Z)")
    async with db.session() as session:
        rows = await repo.list_deploys(
            session, workspace=workspace, service=service, since=since, until=until, limit=limit
        )
    return [DeployOut.of(r) for r in rows]
