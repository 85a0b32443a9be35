"""Deploy events: our JSON shape and GitHub's deployment_status webhook."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from domain.deploys import DeployParseError, from_github_deployment_status

GITHUB: dict[str, Any] = {
    "action": "created",
    "deployment_status": {
        "id": 2417683431,
        "state": "success",
        "description": "Deployed by Argo CD",
        "environment": "production",
        "target_url": "https://argocd.example.com/applications/checkout",
        "created_at": "2026-11-28T09:58:12Z",
        "creator": {"login": "argocd-bot"},
    },
    "deployment": {
        "id": 1289201712,
        "sha": "9f1c2d8e4b7a6c5d3e2f1a0b9c8d7e6f5a4b3c2d",
        "ref": "v2.14.1",
        "task": "deploy",
        "payload": {"service": "checkout-api", "namespace": "shop"},
        "environment": "production",
        "creator": {"login": "jdoe"},
        "created_at": "2026-11-28T09:57:40Z",
    },
    "repository": {"name": "checkout", "full_name": "acme/checkout"},
    "sender": {"login": "argocd-bot"},
}


def test_github_deployment_status_maps_every_field() -> None:
    deploy = from_github_deployment_status(GITHUB)
    assert deploy.service == "checkout-api"  # the deployment payload names the service
    assert deploy.version == "v2.14.1"
    assert deploy.namespace == "shop"
    assert deploy.environment == "production"
    assert deploy.commit == GITHUB["deployment"]["sha"]
    assert deploy.author == "jdoe"
    assert deploy.status == "success"
    assert deploy.url == "https://argocd.example.com/applications/checkout"
    assert deploy.time is not None
    assert deploy.time.isoformat() == "2026-11-28T09:58:12+00:00"
    assert deploy.id == "deployment_status:2417683431"


def test_github_without_payload_uses_repository_name_and_short_sha() -> None:
    body = copy.deepcopy(GITHUB)
    body["deployment"]["payload"] = {}
    del body["deployment"]["ref"]
    deploy = from_github_deployment_status(body)
    assert deploy.service == "checkout"
    assert deploy.version == "9f1c2d8e4b7a"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("deployment_status"), "no deployment_status"),
        (lambda b: (b.pop("repository"), b["deployment"].pop("payload")), "no repository name"),
        (lambda b: b["deployment_status"].update(state="exploded"), "status"),
    ],
)
def test_github_refusals_say_why(mutate: Any, message: str) -> None:
    body = copy.deepcopy(GITHUB)
    mutate(body)
    with pytest.raises(DeployParseError, match=message):
        from_github_deployment_status(body)


@pytest.mark.parametrize("payload", [None, [], "text", 3, {"deployment_status": "nope"}])
def test_github_odd_bodies_are_parse_errors(payload: Any) -> None:
    with pytest.raises(DeployParseError):
        from_github_deployment_status(payload)
