"""Deploy events: our own JSON shape and GitHub's `deployment_status` webhook, as one model."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DeployStatus = Literal["success", "failure", "error", "pending", "in_progress", "queued", "inactive"]


class DeployIn(BaseModel):
    """A deployment as `POST /deploys` accepts it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    service: str = Field(min_length=1, max_length=255)
    version: str | None = Field(default=None, max_length=255)
    namespace: str | None = Field(default=None, max_length=255)
    environment: str | None = Field(default=None, max_length=255)
    commit: str | None = Field(default=None, max_length=64)
    author: str | None = Field(default=None, max_length=255)
    status: DeployStatus = "success"
    url: str | None = Field(default=None, max_length=2000)
    description: str = Field(default="", max_length=5000)
    time: datetime | None = Field(default=None, description="when it was deployed; default: when received")
    id: str | None = Field(default=None, max_length=255, description="the sender's id; a repeat is stored once")


class DeployParseError(ValueError):
    """A deploy body that cannot be understood; the message says why."""


def _dig(data: Any, *path: str) -> Any:
    for step in path:
        if not isinstance(data, dict):
            return None
        data = data.get(step)
    return data


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list | bool):
        return None
    return str(value).strip() or None


def from_github_deployment_status(payload: Any) -> DeployIn:
    """GitHub's `deployment_status` webhook: service from the deployment payload or the repository name."""
    if not isinstance(payload, dict) or not isinstance(payload.get("deployment_status"), dict):
        raise DeployParseError("not a GitHub deployment_status event: no deployment_status object")
    status: dict[str, Any] = payload["deployment_status"]
    deployment: dict[str, Any] = payload["deployment"] if isinstance(payload.get("deployment"), dict) else {}
    extra: dict[str, Any] = deployment["payload"] if isinstance(deployment.get("payload"), dict) else {}
    service = _text(extra.get("service")) or _text(_dig(payload, "repository", "name"))
    if not service:
        raise DeployParseError("GitHub deployment_status has no repository name and no payload.service")
    sha = _text(deployment.get("sha"))
    state = (_text(status.get("state")) or "success").lower()
    try:
        return DeployIn.model_validate(
            {
                "service": service,
                "version": _text(extra.get("version")) or _text(deployment.get("ref")) or (sha[:12] if sha else None),
                "namespace": _text(extra.get("namespace")),
                "environment": _text(status.get("environment")) or _text(deployment.get("environment")),
                "commit": sha[:64] if sha else None,
                "author": _text(_dig(deployment, "creator", "login")) or _text(_dig(payload, "sender", "login")),
                "status": state,
                "url": _text(status.get("target_url"))
                or _text(status.get("log_url"))
                or _text(status.get("environment_url")),
                "description": _text(status.get("description")) or _text(deployment.get("description")) or "",
                "time": _text(status.get("created_at")) or _text(deployment.get("created_at")),
                "id": f"deployment_status:{_text(status.get('id'))}" if _text(status.get("id")) else None,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DeployParseError(f"GitHub deployment_status: {where}: {first['msg']}") from None
