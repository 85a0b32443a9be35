"""execute_action on both databases with a recording provider: intent first, reconcile, verify, rollback."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.remediation import RemediationActivities, idempotency_key
from adapters.storage import repositories as repo
from adapters.storage.db import Database
from domain.actions import (
    ActionOutcome,
    ActionPlan,
    CatalogAction,
    RolloutRestart,
    ScaleDeployment,
    Verification,
)
from domain.models import Alert, ExecuteActionInput

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SCALE = ScaleDeployment(namespace="shop", deployment="checkout", replicas=4)
RESTART = RolloutRestart(namespace="shop", deployment="checkout")


@dataclass
class RecordingProvider:
    """A provider that records calls and what the action log said when apply ran."""

    db: Database
    applied_before: bool = False  # find reports the key (a lost attempt applied it)
    verifies: bool = True
    slug: str = "kubernetes"
    kinds: frozenset[str] = frozenset({"scale_deployment", "rollout_restart"})
    calls: list[str] = field(default_factory=list)
    status_at_apply: str | None = None

    async def plan(self, action: CatalogAction, *, key: str) -> ActionPlan:
        self.calls.append("plan")
        return ActionPlan(
            summary="replicas 2 -> 4",
            diff="-replicas: 2\n+replicas: 4",
            target="deployment shop/checkout",
            before={"replicas": "2"},
        )

    async def find(self, action: CatalogAction, *, key: str) -> ActionOutcome | None:
        self.calls.append("find")
        if self.applied_before:
            return ActionOutcome(status="already_applied", detail="key present", provider_ref=f"annotation {key}")
        return None

    async def apply(self, action: CatalogAction, *, key: str) -> ActionOutcome:
        self.calls.append("apply")
        async with self.db.session() as session:
            row = await repo.get_action_log(session, idempotency_key=key)
        self.status_at_apply = row.status if row is not None else None
        return ActionOutcome(status="succeeded", detail="patched", provider_ref=f"annotation {key}")

    async def verify(self, action: CatalogAction, *, key: str) -> Verification:
        self.calls.append("verify")
        return Verification(ok=self.verifies, detail="4/4 ready" if self.verifies else "1/4 ready after 300s")

    async def rollback(self, action: CatalogAction, *, key: str, plan: ActionPlan) -> ActionOutcome:
        self.calls.append(f"rollback to {plan.before['replicas']}")
        return ActionOutcome(status="succeeded", detail=f"replicas back to {plan.before['replicas']}")

    async def health(self) -> None:
        return None


async def incident(db: Database) -> int:
    async with db.session() as session:
        row = await repo.create_incident(
            session,
            workspace="ws",
            stream_key="s",
            workflow_id="wf",
            run_id="r",
            alert=Alert(source="webhook", title="t"),
            opened_at=NOW,
            previous_incident_id=None,
        )
        return row.id


def request(
    incident_id: int, action: CatalogAction, *, dry_run: bool = False, action_id: str = "a1"
) -> ExecuteActionInput:
    return ExecuteActionInput(
        incident_id=incident_id,
        workspace="ws",
        workflow_id="wf",
        action_id=action_id,
        action=action,
        dry_run=dry_run,
        requested_by="aisre",
        approved_by=["alice"],
    )


async def row_of(db: Database, action_id: str = "a1") -> dict[str, object]:
    async with db.session() as session:
        row = await repo.get_action_log(session, idempotency_key=idempotency_key("wf", action_id))
        assert row is not None
        return {"status": row.status, "result": row.result, "plan": row.plan, "approved_by": row.approved_by}


async def test_intent_is_committed_before_apply_and_a_retry_does_nothing(database: Database) -> None:
    provider = RecordingProvider(database)
    acts = RemediationActivities(db=database, providers={"kubernetes": provider})
    inp = request(await incident(database), SCALE)
    result = await ActivityEnvironment().run(acts.execute_action, inp)
    assert result.status == "succeeded"
    assert provider.status_at_apply == "executing"  # the intent was in SQL when the provider was called
    assert provider.calls == ["find", "plan", "apply", "verify"]
    row = await row_of(database)
    assert row["approved_by"] == "alice"
    assert row["plan"]["diff"] == "-replicas: 2\n+replicas: 4"  # type: ignore[index]
    again = await ActivityEnvironment().run(acts.execute_action, inp)
    assert again.status == "succeeded"
    assert provider.calls == ["find", "plan", "apply", "verify"]  # a finished action is never touched again


async def test_a_lost_attempt_found_on_the_provider_is_recorded_and_still_verified(database: Database) -> None:
    provider = RecordingProvider(database, applied_before=True)
    acts = RemediationActivities(db=database, providers={"kubernetes": provider})
    result = await ActivityEnvironment().run(acts.execute_action, request(await incident(database), RESTART))
    assert result.status == "already_applied"
    assert provider.calls == ["find", "verify"]  # no second apply
    assert (await row_of(database))["result"]["status"] == "already_applied"  # type: ignore[index]


async def test_failed_verification_rolls_back_a_reversible_action(database: Database) -> None:
    provider = RecordingProvider(database, verifies=False)
    acts = RemediationActivities(db=database, providers={"kubernetes": provider})
    result = await ActivityEnvironment().run(acts.execute_action, request(await incident(database), SCALE))
    assert result.status == "rolled_back"
    assert provider.calls[-1] == "rollback to 2"


async def test_failed_verification_of_an_irreversible_action_is_a_failure(database: Database) -> None:
    provider = RecordingProvider(database, verifies=False)
    acts = RemediationActivities(db=database, providers={"kubernetes": provider})
    result = await ActivityEnvironment().run(acts.execute_action, request(await incident(database), RESTART))
    assert result.status == "failed"
    assert not any(c.startswith("rollback") for c in provider.calls)


async def test_dry_run_records_the_diff_and_changes_nothing(database: Database) -> None:
    provider = RecordingProvider(database)
    acts = RemediationActivities(db=database, providers={"kubernetes": provider})
    result = await ActivityEnvironment().run(
        acts.execute_action, request(await incident(database), SCALE, dry_run=True)
    )
    assert result.status == "dry_run"
    assert result.diff == "-replicas: 2\n+replicas: 4"
    assert provider.calls == ["plan"]


async def test_a_missing_provider_is_recorded_as_a_final_failure(database: Database) -> None:
    acts = RemediationActivities(db=database, providers={})
    with pytest.raises(ApplicationError, match="kubernetes provider"):
        await ActivityEnvironment().run(acts.execute_action, request(await incident(database), SCALE))
    row = await row_of(database)
    assert row["status"] == "failed"
    assert "not configured" in str(row["result"])
