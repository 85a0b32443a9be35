"""The policy engine: every rule's votes and reasons, precedence, freeze windows across zones and DST,
the two-person rule, policies.yaml validation, and monotonicity (a deny can only make things stricter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.actions import (
    CATALOG,
    BlastRadius,
    CatalogAction,
    EcsForceNewDeployment,
    EcsScaleService,
    EcsStopTask,
    RestartPod,
    Role,
    RollbackDeployment,
    RolloutRestart,
    ScaleDeployment,
    SuggestConfigFix,
)
from domain.policy import (
    RULES,
    Decision,
    FreezeWindow,
    PoliciesFile,
    PolicyDecision,
    PolicyInput,
    RuleVote,
    combine,
    evaluate,
    load_policies,
    most_restrictive,
)
from domain.settings import CONFIG_DIR, ConfigError, Settings, WorkspaceConfig, load_yaml
from domain.slo import BudgetStatus

NOW = datetime(2025, 6, 11, 12, 0, tzinfo=UTC)  # a Wednesday
ROLLOUT = RolloutRestart(namespace="shop", deployment="checkout")
RESTART = RestartPod(namespace="shop", pod="checkout-7d9f-abcde")
ROLLBACK = RollbackDeployment(namespace="shop", deployment="checkout")
ECS_STOP = EcsStopTask(cluster="prod", task="arn:aws:ecs:eu-west-1:1:task/prod/abc")
ECS_SCALE = EcsScaleService(cluster="prod", service="api", desired_count=4)
HEALTHY = BudgetStatus(allowed_minutes=43.2, consumed_minutes=10.8, remaining_fraction=0.75, exhausted=False)
SPENT = BudgetStatus(allowed_minutes=43.2, consumed_minutes=50.0, remaining_fraction=0.0, exhausted=True)
# Everything that would let an action run on its own.
AUTONOMOUS: dict[str, Any] = {
    "dry_run": False,
    "approval_required": False,
    "autonomy_enabled": True,
    "autonomous_actions": list(CATALOG),
}


def make(action: CatalogAction = ROLLOUT, **fields: Any) -> PolicyInput:
    """A policy input for `action` in workspace payments, service checkout, at NOW (fields override)."""
    policies = fields.pop("policies", None)
    if isinstance(policies, dict):
        fields["policies"] = PoliciesFile.model_validate(policies)
    elif policies is not None:
        fields["policies"] = policies
    base: dict[str, Any] = {
        "action": action,
        "spec": CATALOG[action.action],
        "workspace": "payments",
        "now": NOW,
        "service": "checkout",
    }
    return PolicyInput(**(base | fields))


def vote_of(decision: PolicyDecision, rule: str) -> RuleVote:
    (found,) = [v for v in decision.votes if v.rule == rule]
    return found


def check(inp: PolicyInput, rule: str, expected: Decision | None, *fragments: str) -> PolicyDecision:
    """The rule's vote inside a full evaluation has this decision and every fragment in its reason."""
    result = evaluate(inp)
    got = vote_of(result, rule)
    assert got.decision == expected, got
    for fragment in fragments:
        assert fragment in got.reason, (fragment, got.reason)
    return result


# --- one table per rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "allowed", "expected", "fragments"),
    [
        pytest.param(ROLLOUT, [], Decision.auto_execute, ["workspace payments allows every namespace"], id="empty-all"),
        pytest.param(
            ROLLOUT, ["shop", "web"], Decision.auto_execute, ["namespace shop is in workspace payments's"], id="inside"
        ),
        pytest.param(
            RolloutRestart(namespace="kube-system", deployment="coredns"),
            ["shop", "web"],
            Decision.deny,
            ["namespace kube-system is outside workspace payments's allowlist (shop, web)", "whoever approves"],
            id="outside",
        ),
        pytest.param(
            SuggestConfigFix(namespace="billing", deployment="api", changes={"resources.limits.memory": "1Gi"}),
            ["shop"],
            Decision.deny,
            ["namespace billing is outside"],
            id="github-outside",
        ),
        pytest.param(
            ECS_STOP,
            ["shop"],
            None,
            ["ecs_stop_task has no namespace: the allowlist applies to Kubernetes and GitHub actions"],
            id="ecs-abstains",
        ),
    ],
)
def test_namespace_allowlist(
    action: CatalogAction, allowed: list[str], expected: Decision | None, fragments: list[str]
) -> None:
    check(make(action, allowed_namespaces=allowed, **AUTONOMOUS), "namespace_allowlist", expected, *fragments)


@pytest.mark.parametrize(
    ("spec_update", "expected", "fragments"),
    [
        pytest.param({}, Decision.auto_execute, ["rollout_restart is an executable catalog action"], id="executable"),
        pytest.param(
            {"executable": False},
            Decision.dry_run_only,
            ["rollout_restart is not executable: it can only be proposed"],
            id="not-executable",
        ),
        pytest.param(
            {"kind": "restart_pod"},
            Decision.deny,
            ["the catalog entry is for restart_pod but the action is rollout_restart"],
            id="mismatched-spec",
        ),
    ],
)
def test_catalog(spec_update: dict[str, Any], expected: Decision, fragments: list[str]) -> None:
    spec = CATALOG["rollout_restart"].model_copy(update=spec_update)
    result = check(make(ROLLOUT, spec=spec, **AUTONOMOUS), "catalog", expected, *fragments)
    assert result.decision == expected


@pytest.mark.parametrize(
    ("action", "maximum", "expected", "fragments"),
    [
        pytest.param(
            ScaleDeployment(namespace="shop", deployment="checkout", replicas=20),
            20,
            Decision.auto_execute,
            ["20 replicas for deployment shop/checkout is within MAX_SCALE_REPLICAS 20"],
            id="at-limit",
        ),
        pytest.param(
            ScaleDeployment(namespace="shop", deployment="checkout", replicas=21),
            20,
            Decision.deny,
            ["21 replicas for deployment shop/checkout exceeds MAX_SCALE_REPLICAS 20"],
            id="above",
        ),
        pytest.param(
            EcsScaleService(cluster="prod", service="api", desired_count=50),
            20,
            Decision.deny,
            ["50 replicas for ECS service prod/api exceeds MAX_SCALE_REPLICAS 20"],
            id="ecs-above",
        ),
        pytest.param(
            ScaleDeployment(namespace="shop", deployment="checkout", replicas=0),
            0,
            Decision.auto_execute,
            ["0 replicas for deployment shop/checkout is within MAX_SCALE_REPLICAS 0"],
            id="zero-limit",
        ),
        pytest.param(
            SuggestConfigFix(namespace="shop", deployment="checkout", changes={"replicas": "30"}),
            20,
            Decision.deny,
            ["30 replicas for the manifest of shop/checkout exceeds MAX_SCALE_REPLICAS 20"],
            id="config-fix-replicas",
        ),
        pytest.param(
            SuggestConfigFix(namespace="shop", deployment="checkout", changes={"spec.replicas": "four"}),
            20,
            Decision.deny,
            ["replica target 'four' for the manifest of shop/checkout is not a whole number"],
            id="config-fix-not-a-number",
        ),
        pytest.param(
            SuggestConfigFix(namespace="shop", deployment="checkout", changes={"resources.limits.memory": "1Gi"}),
            20,
            None,
            ["suggest_config_fix does not set a replica count"],
            id="config-fix-limits",
        ),
        pytest.param(RESTART, 20, None, ["restart_pod does not set a replica count"], id="not-scaling"),
    ],
)
def test_max_scale_replicas(
    action: CatalogAction, maximum: int, expected: Decision | None, fragments: list[str]
) -> None:
    check(make(action, max_scale_replicas=maximum), "max_scale_replicas", expected, *fragments)


@pytest.mark.parametrize(
    ("dry_run", "expected", "fragment"),
    [
        (True, Decision.dry_run_only, "DRY_RUN is on (the default): the provider shows the diff and changes nothing"),
        (False, Decision.auto_execute, "DRY_RUN is off: actions change the target"),
    ],
)
def test_dry_run(dry_run: bool, expected: Decision, fragment: str) -> None:
    check(make(dry_run=dry_run), "dry_run", expected, fragment)


@pytest.mark.parametrize(
    ("required", "expected", "fragment"),
    [
        (True, Decision.require_approval, "APPROVAL_REQUIRED is on: a human approves every action"),
        (False, Decision.auto_execute, "APPROVAL_REQUIRED is off"),
    ],
)
def test_approval_required(required: bool, expected: Decision, fragment: str) -> None:
    check(make(approval_required=required), "approval_required", expected, fragment)


@pytest.mark.parametrize(
    ("enabled", "kinds", "expected", "fragment"),
    [
        (False, ["rollout_restart"], Decision.require_approval, "AUTONOMY_ENABLED is off: a human approves"),
        (True, ["restart_pod"], Decision.require_approval, "rollout_restart is not in AUTONOMOUS_ACTIONS"),
        (True, [], Decision.require_approval, "rollout_restart is not in AUTONOMOUS_ACTIONS"),
        (True, ["restart_pod", "rollout_restart"], Decision.auto_execute, "AUTONOMY_ENABLED and rollout_restart is in"),
    ],
)
def test_autonomy(enabled: bool, kinds: list[str], expected: Decision, fragment: str) -> None:
    check(make(autonomy_enabled=enabled, autonomous_actions=kinds), "autonomy", expected, fragment)


PROD_ENV = {"name": "production", "namespaces": ["prod"], "max_auto_execute": "low", "max_allowed": "medium"}


@pytest.mark.parametrize(
    ("action", "fields", "expected", "fragments"),
    [
        pytest.param(
            RESTART,
            {},
            Decision.auto_execute,
            ["restart_pod has blast radius low, within max_auto_execute medium (global limits)"],
            id="low-default",
        ),
        pytest.param(ROLLOUT, {}, Decision.auto_execute, ["blast radius medium, within"], id="medium-default"),
        pytest.param(
            ROLLBACK,
            {},
            Decision.require_approval,
            ["rollback_deployment has blast radius high, above max_auto_execute medium (global limits)"],
            id="high-default",
        ),
        pytest.param(
            ROLLBACK,
            {"policies": {"blast_radius": {"max_allowed": "medium"}}},
            Decision.deny,
            ["blast radius high, above max_allowed medium (global limits)"],
            id="above-max-allowed",
        ),
        pytest.param(
            RESTART,
            {"policies": {"blast_radius": {"max_auto_execute": "none"}}},
            Decision.require_approval,
            ["blast radius low, above max_auto_execute none"],
            id="nothing-auto",
        ),
        pytest.param(
            RESTART,
            {"policies": {"blast_radius": {"max_auto_execute": "none", "max_allowed": "none"}}},
            Decision.deny,
            ["above max_allowed none"],
            id="nothing-at-all",
        ),
        pytest.param(
            RolloutRestart(namespace="prod", deployment="api"),
            {"policies": {"blast_radius": {"environments": [PROD_ENV]}}},
            Decision.require_approval,
            ["above max_auto_execute low (environment production)"],
            id="environment-tightens",
        ),
        pytest.param(
            RollbackDeployment(namespace="prod", deployment="api"),
            {"policies": {"blast_radius": {"environments": [PROD_ENV]}}},
            Decision.deny,
            ["above max_allowed medium (environment production)"],
            id="environment-denies",
        ),
        pytest.param(
            ROLLBACK,
            {"policies": {"blast_radius": {"environments": [PROD_ENV]}}},
            Decision.require_approval,
            ["(global limits)"],
            id="other-namespace-global",
        ),
        pytest.param(
            ROLLBACK,
            {
                "policies": {
                    "blast_radius": {
                        "max_auto_execute": "low",
                        "environments": [{"name": "staging", "workspaces": ["payments"], "max_auto_execute": "high"}],
                    }
                }
            },
            Decision.auto_execute,
            ["within max_auto_execute high (environment staging)"],
            id="environment-replaces-global",
        ),
        pytest.param(
            RolloutRestart(namespace="prod", deployment="api"),
            {
                "policies": {
                    "blast_radius": {
                        "environments": [
                            {"name": "loose", "services": ["checkout"], "max_auto_execute": "high"},
                            PROD_ENV,
                        ]
                    }
                }
            },
            Decision.require_approval,
            ["above max_auto_execute low (environment loose, production)"],
            id="strictest-of-several",
        ),
        pytest.param(
            ScaleDeployment(namespace="shop", deployment="checkout", replicas=0),
            {},
            Decision.require_approval,
            ["scaling deployment shop/checkout to 0 takes it down: blast radius high, above max_auto_execute medium"],
            id="scale-to-zero-is-high",
        ),
        pytest.param(
            ScaleDeployment(namespace="shop", deployment="checkout", replicas=5),
            {"current_replicas": 10},
            Decision.require_approval,
            ["from 10 to 5 removes half or more: blast radius high"],
            id="halving-is-high",
        ),
        pytest.param(
            EcsScaleService(cluster="prod", service="api", desired_count=1),
            {"current_replicas": 3},
            Decision.require_approval,
            ["scaling ECS service prod/api from 3 to 1 removes half or more"],
            id="ecs-halving-is-high",
        ),
        pytest.param(
            ScaleDeployment(namespace="shop", deployment="checkout", replicas=6),
            {"current_replicas": 10},
            Decision.auto_execute,
            ["scale_deployment has blast radius medium, within"],
            id="modest-scale-down",
        ),
        pytest.param(
            ScaleDeployment(namespace="shop", deployment="checkout", replicas=5),
            {},
            Decision.auto_execute,
            ["scale_deployment has blast radius medium"],
            id="current-unknown",
        ),
    ],
)
def test_blast_radius(action: CatalogAction, fields: dict[str, Any], expected: Decision, fragments: list[str]) -> None:
    check(make(action, **fields), "blast_radius", expected, *fragments)


@pytest.mark.parametrize(
    ("action", "threshold", "expected", "fragment", "two_person"),
    [
        pytest.param(ROLLBACK, None, None, "the two-person rule is off", False, id="off"),
        pytest.param(
            ROLLBACK, "high", Decision.require_approval, "blast radius high is at or above high: two distinct", True
        ),
        pytest.param(
            ROLLOUT, "high", Decision.auto_execute, "blast radius medium is below the two-person threshold high", False
        ),
        pytest.param(ROLLOUT, "medium", Decision.require_approval, "blast radius medium is at or above medium", True),
        pytest.param(RESTART, "medium", Decision.auto_execute, "blast radius low is below", False),
        pytest.param(RESTART, "low", Decision.require_approval, "blast radius low is at or above low", True),
        pytest.param(
            ScaleDeployment(namespace="shop", deployment="checkout", replicas=0),
            "high",
            Decision.require_approval,
            "blast radius high is at or above high",
            True,
            id="scale-to-zero",
        ),
    ],
)
def test_two_person_rule(
    action: CatalogAction, threshold: str | None, expected: Decision | None, fragment: str, two_person: bool
) -> None:
    inp = make(action, policies={"two_person": {"min_radius": threshold}}, dry_run=False)
    result = check(inp, "two_person", expected, fragment)
    assert result.two_person is two_person
    assert result.decision == Decision.require_approval  # approval_required is still on
    assert result.approvers_needed == (2 if two_person else 1)


def window(**fields: Any) -> dict[str, Any]:
    return {"name": "freeze", **fields}


@pytest.mark.parametrize(
    ("action", "windows", "expected", "fragments"),
    [
        pytest.param(ROLLOUT, [], Decision.auto_execute, ["no change-freeze windows are configured"], id="none"),
        pytest.param(
            ROLLOUT,
            [window(name="midweek", days=["wed"], reason="release train")],
            Decision.deny,
            ["change freeze 'midweek' (wed 00:00-00:00 UTC): release train -> deny"],
            id="active-deny",
        ),
        pytest.param(
            ROLLOUT,
            [window(days=["wed"], decision="dry_run_only")],
            Decision.dry_run_only,
            ["-> dry_run_only"],
            id="active-dry-run",
        ),
        pytest.param(
            ROLLOUT,
            [window(days=["thu"])],
            Decision.auto_execute,
            ["no change freeze in force at 2025-06-11 12:00 UTC"],
            id="inactive",
        ),
        pytest.param(
            ROLLOUT,
            [window(days=["wed"], namespaces=["prod"])],
            Decision.auto_execute,
            ["no change freeze in force"],
            id="other-namespace",
        ),
        pytest.param(
            ROLLOUT,
            [window(days=["wed"], namespaces=["shop"], services=["checkout"], workspaces=["payments"])],
            Decision.deny,
            ["(workspaces payments; namespaces shop; services checkout)"],
            id="in-scope",
        ),
        pytest.param(
            ROLLOUT,
            [window(days=["wed"], services=["search"])],
            Decision.auto_execute,
            ["no change freeze in force"],
            id="other-service",
        ),
        pytest.param(
            ECS_STOP,
            [window(days=["wed"], namespaces=["shop"])],
            Decision.auto_execute,
            ["no change freeze in force"],
            id="ecs-not-in-namespace-scope",
        ),
        pytest.param(
            ECS_STOP, [window(days=["wed"], workspaces=["payments"])], Decision.deny, ["-> deny"], id="ecs-by-workspace"
        ),
        pytest.param(
            ROLLOUT,
            [window(name="a", days=["wed"], decision="dry_run_only"), window(name="b", days=["wed"])],
            Decision.deny,
            ["'a'", "-> dry_run_only", "'b'", "-> deny"],
            id="strictest-of-two",
        ),
        pytest.param(
            ROLLOUT,
            [window(starts_at="2025-06-11T11:00:00Z", ends_at="2025-06-11T13:00:00Z")],
            Decision.deny,
            ["2025-06-11T11:00:00+00:00 to 2025-06-11T13:00:00+00:00"],
            id="absolute",
        ),
    ],
)
def test_change_freeze(
    action: CatalogAction, windows: list[dict[str, Any]], expected: Decision, fragments: list[str]
) -> None:
    result = check(
        make(action, policies={"freeze_windows": windows}, **AUTONOMOUS), "change_freeze", expected, *fragments
    )
    if expected is not Decision.auto_execute:
        assert result.decision == expected


@pytest.mark.parametrize(
    ("service", "budget", "expected", "fragment"),
    [
        (None, HEALTHY, None, "the action names no service: error-budget rule abstains"),
        ("checkout", None, None, "no SLO for service checkout: error-budget rule abstains"),
        (
            "checkout",
            SPENT,
            Decision.require_approval,
            "error budget of checkout is exhausted (50.0 of 43.2 budget minutes spent): no autonomous actions",
        ),
        ("checkout", HEALTHY, Decision.auto_execute, "error budget of checkout: 75% left (10.8 of 43.2 budget minutes"),
    ],
)
def test_error_budget(
    service: str | None, budget: BudgetStatus | None, expected: Decision | None, fragment: str
) -> None:
    result = check(make(service=service, budget=budget, **AUTONOMOUS), "error_budget", expected, fragment)
    # Only an exhausted budget stands between this fully autonomous setup and auto-execution.
    assert result.decision == (Decision.require_approval if budget is SPENT and service else Decision.auto_execute)


NO_KILLS = {"name": "no-task-kills", "workspaces": ["payments"], "deny": ["ecs_stop_task"], "reason": "leases"}


@pytest.mark.parametrize(
    ("action", "overrides", "expected", "fragments", "min_role"),
    [
        pytest.param(
            ECS_STOP, [], None, ["no per-action override for ecs_stop_task applies"], Role.operator, id="none"
        ),
        pytest.param(
            ECS_STOP,
            [NO_KILLS],
            Decision.deny,
            ["ecs_stop_task: override 'no-task-kills' (workspaces payments): deny (leases)"],
            Role.operator,
            id="deny-in-scope",
        ),
        pytest.param(
            ECS_STOP,
            [{**NO_KILLS, "workspaces": ["search"]}],
            None,
            ["no per-action override"],
            Role.operator,
            id="out-of-scope",
        ),
        pytest.param(
            ECS_STOP,
            [{"deny": ["ecs_stop_task"], "namespaces": ["prod"]}],
            None,
            ["no per-action override"],
            Role.operator,
            id="ecs-has-no-namespace",
        ),
        pytest.param(
            ROLLOUT, [NO_KILLS], None, ["no per-action override for rollout_restart"], Role.operator, id="other-kind"
        ),
        pytest.param(
            ROLLOUT,
            [{"dry_run_only": ["rollout_restart"], "namespaces": ["shop"]}],
            Decision.dry_run_only,
            ["override (namespaces shop): dry_run_only"],
            Role.operator,
            id="dry-run-only",
        ),
        pytest.param(
            ROLLOUT,
            [
                {"require_approval": ["rollout_restart"]},
                {"name": "x", "deny": ["rollout_restart"], "services": ["checkout"]},
            ],
            Decision.deny,
            ["override: require_approval", "override 'x' (services checkout): deny"],
            Role.operator,
            id="strictest-of-two",
        ),
        pytest.param(
            ROLLBACK,
            [{"name": "admins-roll-back", "min_role": {"rollback_deployment": "admin"}}],
            None,
            ["rollback_deployment: override 'admins-roll-back': approvers need role admin"],
            Role.admin,
            id="min-role-only",
        ),
        pytest.param(
            ROLLBACK,
            [{"min_role": {"rollback_deployment": "viewer"}}],
            None,
            ["approvers need role viewer"],
            Role.operator,
            id="min-role-never-lowers",
        ),
    ],
)
def test_action_overrides(
    action: CatalogAction,
    overrides: list[dict[str, Any]],
    expected: Decision | None,
    fragments: list[str],
    min_role: Role,
) -> None:
    result = check(
        make(action, policies={"overrides": overrides}, **AUTONOMOUS), "action_overrides", expected, *fragments
    )
    assert result.min_role == min_role


# --- precedence ----------------------------------------------------------------------------------------


def v(decision: Decision | None, rule: str = "r") -> RuleVote:
    return RuleVote(rule=rule, decision=decision, reason="because")


D = Decision


@pytest.mark.parametrize(
    ("decisions", "expected"),
    [
        ([D.auto_execute, D.require_approval], D.require_approval),
        ([D.require_approval, D.dry_run_only], D.dry_run_only),
        ([D.dry_run_only, D.deny, D.auto_execute], D.deny),
        ([D.auto_execute, None], D.auto_execute),
        ([None, None], D.require_approval),  # nothing vouches for it: a human decides
        ([], D.require_approval),
    ],
)
def test_most_restrictive_vote_wins(decisions: list[Decision | None], expected: Decision) -> None:
    assert combine([v(d) for d in decisions]) == expected


def test_decision_order_is_most_restrictive_first() -> None:
    assert [d.value for d in Decision] == ["deny", "dry_run_only", "require_approval", "auto_execute"]
    assert [d.strictness for d in Decision] == [3, 2, 1, 0]
    assert most_restrictive([None]) is None


def test_every_rule_votes_with_a_reason_in_a_fixed_order() -> None:
    result = evaluate(make())
    assert [vote.rule for vote in result.votes] == [
        "namespace_allowlist",
        "catalog",
        "max_scale_replicas",
        "dry_run",
        "approval_required",
        "autonomy",
        "blast_radius",
        "two_person",
        "change_freeze",
        "error_budget",
        "action_overrides",
    ]
    assert len(RULES) == len(result.votes)
    assert all(vote.reason for vote in result.votes)
    assert len(result.reasons) == len(result.votes)
    assert "max_scale_replicas: abstain: rollout_restart does not set a replica count" in result.reasons


def test_shipped_defaults_only_dry_run_and_list_every_objection() -> None:
    result = evaluate(make(policies=load_policies(CONFIG_DIR)))
    assert result.decision == Decision.dry_run_only
    assert result.approvers_needed == 0
    assert "dry_run: dry_run_only: DRY_RUN is on (the default): the provider shows the diff and changes nothing" in (
        result.reasons
    )
    # The weaker objections are still listed.
    assert vote_of(result, "approval_required").decision == Decision.require_approval
    assert vote_of(result, "autonomy").decision == Decision.require_approval
    assert vote_of(result, "error_budget").decision is None


def test_with_dry_run_off_a_human_approves() -> None:
    result = evaluate(make(dry_run=False))
    assert (result.decision, result.approvers_needed, result.min_role) == (Decision.require_approval, 1, Role.operator)


def test_full_autonomy_auto_executes_within_limits() -> None:
    result = evaluate(make(RESTART, **AUTONOMOUS, budget=HEALTHY))
    assert result.decision == Decision.auto_execute, result.reasons
    assert result.approvers_needed == 0
    assert result.execution_permitted(approvers={})


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="autonomous"),
        pytest.param({"approval_required": True}, id="approval-required"),
        pytest.param({"autonomy_enabled": False}, id="no-autonomy"),
    ],
)
def test_outside_the_allowlist_is_denied_even_with_admin_approval(extra: dict[str, Any]) -> None:
    inp = make(
        RolloutRestart(namespace="kube-system", deployment="coredns"),
        allowed_namespaces=["shop"],
        **(AUTONOMOUS | extra),
    )
    result = evaluate(inp)
    assert result.decision == Decision.deny
    assert result.approvers_needed == 0
    assert any("outside workspace payments's allowlist" in reason for reason in result.reasons)
    assert not result.execution_permitted(approvers={"alice": Role.admin, "bob": Role.admin, "carol": Role.admin})


@pytest.mark.parametrize(
    ("decision", "needed", "min_role", "approvers", "permitted"),
    [
        (D.deny, 0, Role.operator, {"a": Role.admin}, False),
        (D.dry_run_only, 0, Role.operator, {"a": Role.admin}, False),
        (D.auto_execute, 0, Role.operator, {}, True),
        (D.require_approval, 1, Role.operator, {}, False),
        (D.require_approval, 0, Role.operator, {}, False),
        (D.require_approval, 1, Role.operator, {"a": Role.viewer}, False),
        (D.require_approval, 1, Role.operator, {"a": Role.operator}, True),
        (D.require_approval, 1, Role.admin, {"a": Role.operator}, False),
        (D.require_approval, 2, Role.operator, {"a": Role.admin}, False),
        (D.require_approval, 2, Role.operator, {"a": Role.admin, "b": Role.viewer}, False),
        (D.require_approval, 2, Role.operator, {"a": Role.operator, "b": Role.admin}, True),
    ],
)
def test_execution_permitted(
    decision: Decision, needed: int, min_role: Role, approvers: dict[str, Role], permitted: bool
) -> None:
    verdict = PolicyDecision(
        decision=decision, votes=[], two_person=needed == 2, approvers_needed=needed, min_role=min_role
    )
    assert verdict.execution_permitted(approvers=approvers) is permitted


def test_two_person_threshold_from_shipped_style_policy() -> None:
    policies = {"two_person": {"min_radius": "high"}}
    rollback = evaluate(make(ROLLBACK, policies=policies, dry_run=False))
    assert (rollback.two_person, rollback.approvers_needed, rollback.blast_radius) == (True, 2, BlastRadius.high)
    assert not rollback.execution_permitted(approvers={"alice": Role.admin})
    assert rollback.execution_permitted(approvers={"alice": Role.operator, "bob": Role.operator})
    rollout = evaluate(make(ROLLOUT, policies=policies, dry_run=False))
    assert (rollout.two_person, rollout.approvers_needed) == (False, 1)


def test_two_person_actions_never_auto_execute() -> None:
    result = evaluate(
        make(
            ROLLBACK,
            policies={"two_person": {"min_radius": "high"}, "blast_radius": {"max_auto_execute": "high"}},
            **AUTONOMOUS,
        )
    )
    assert result.decision == Decision.require_approval
    assert result.approvers_needed == 2


def test_from_settings_uses_settings_workspace_and_catalog() -> None:
    settings = Settings(
        dry_run=False,
        approval_required=False,
        autonomy_enabled=True,
        autonomous_actions=["ecs_scale_service"],
        max_scale_replicas=3,
    )
    inp = PolicyInput.from_settings(
        action=ECS_SCALE,
        settings=settings,
        workspace=WorkspaceConfig(name="payments", allowed_namespaces=["shop"]),
        policies=PoliciesFile(),
        now=NOW,
        service="api",
    )
    assert inp.spec == CATALOG["ecs_scale_service"]
    assert (inp.allowed_namespaces, inp.max_scale_replicas, inp.dry_run) == (["shop"], 3, False)
    result = evaluate(inp)
    assert result.decision == Decision.deny
    assert (
        vote_of(result, "max_scale_replicas").reason
        == "4 replicas for ECS service prod/api exceeds MAX_SCALE_REPLICAS 3"
    )


# --- freeze windows: zones, DST, midnight --------------------------------------------------------------


def fw(**fields: Any) -> FreezeWindow:
    return FreezeWindow.model_validate({"name": "w", **fields})


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


FRI_NIGHT_NY = {"days": ["fri"], "from": "22:00", "to": "06:00", "timezone": "America/New_York"}


@pytest.mark.parametrize(
    ("fields", "at", "active"),
    [
        # Midnight-spanning Friday night in New York (EDT, UTC-4): Sat 02:00Z to Sat 10:00Z.
        pytest.param(FRI_NIGHT_NY, "2025-06-14T01:59:59Z", False, id="ny-before-start"),
        pytest.param(FRI_NIGHT_NY, "2025-06-14T02:00:00Z", True, id="ny-start-inclusive"),
        pytest.param(FRI_NIGHT_NY, "2025-06-14T09:59:59Z", True, id="ny-saturday-morning"),
        pytest.param(FRI_NIGHT_NY, "2025-06-14T10:00:00Z", False, id="ny-end-exclusive"),
        pytest.param(FRI_NIGHT_NY, "2025-06-13T03:00:00Z", False, id="ny-thursday-night-not-a-start-day"),
        pytest.param(FRI_NIGHT_NY, "2025-06-15T03:00:00Z", False, id="ny-saturday-night"),
        # The same wall times in winter (EST, UTC-5) are an hour later in UTC.
        pytest.param(FRI_NIGHT_NY, "2025-01-11T02:30:00Z", False, id="ny-winter-still-friday-21-30"),
        pytest.param(FRI_NIGHT_NY, "2025-01-11T10:30:00Z", True, id="ny-winter-05-30"),
        # One instant, Monday 09:30 in Tokyo = Sunday 17:30 in Los Angeles.
        pytest.param(
            {"days": ["mon"], "from": "09:00", "to": "10:00", "timezone": "Asia/Tokyo"},
            "2025-06-09T00:30:00Z",
            True,
            id="tokyo-monday",
        ),
        pytest.param(
            {"days": ["mon"], "from": "09:00", "to": "10:00", "timezone": "America/Los_Angeles"},
            "2025-06-09T00:30:00Z",
            False,
            id="los-angeles-still-sunday",
        ),
        pytest.param(
            {"days": ["sun"], "from": "17:00", "to": "18:00", "timezone": "America/Los_Angeles"},
            "2025-06-09T00:30:00Z",
            True,
            id="los-angeles-sunday",
        ),
        # Quarter-hour offset: Kathmandu is UTC+05:45.
        pytest.param({"from": "09:00", "to": "09:15", "timezone": "Asia/Kathmandu"}, "2025-06-11T03:14:00Z", False),
        pytest.param({"from": "09:00", "to": "09:15", "timezone": "Asia/Kathmandu"}, "2025-06-11T03:15:00Z", True),
        # Monday in Auckland (NZST, UTC+12) begins on Sunday at noon UTC.
        pytest.param({"days": ["monday"], "timezone": "Pacific/Auckland"}, "2025-06-08T12:00:00Z", True),
        pytest.param({"days": ["monday"], "timezone": "Pacific/Auckland"}, "2025-06-08T11:59:59Z", False),
        # Whole days, from == to (24 h from 18:00), only `from`, only `to`.
        pytest.param({"days": ["sat", "sun"]}, "2025-06-15T23:59:59Z", True, id="weekend-sunday-late"),
        pytest.param({"days": ["sat", "sun"]}, "2025-06-16T00:00:00Z", False, id="weekend-over-monday"),
        pytest.param({"days": ["fri"], "from": "18:00", "to": "18:00"}, "2025-06-14T17:59:00Z", True, id="24h"),
        pytest.param({"days": ["fri"], "from": "18:00", "to": "18:00"}, "2025-06-14T18:00:00Z", False, id="24h-end"),
        pytest.param({"from": "22:00"}, "2025-06-11T23:59:59Z", True, id="from-until-midnight"),
        pytest.param({"from": "22:00"}, "2025-06-12T00:00:00Z", False, id="from-ends-at-midnight"),
        pytest.param({"to": "06:00"}, "2025-06-11T05:59:59Z", True, id="to-from-midnight"),
        pytest.param({"to": "06:00"}, "2025-06-11T06:00:00Z", False, id="to-end"),
        # Absolute windows, and absolute + weekly together (weekday nights during one week).
        pytest.param(
            {"starts_at": "2025-11-27T00:00:00-05:00", "ends_at": "2025-12-02T00:00:00-05:00"},
            "2025-11-27T05:00:00Z",
            True,
        ),
        pytest.param(
            {"starts_at": "2025-11-27T00:00:00-05:00", "ends_at": "2025-12-02T00:00:00-05:00"},
            "2025-12-02T05:00:00Z",
            False,
        ),
        pytest.param(
            {"starts_at": "2025-11-27T00:00:00-05:00", "ends_at": "2025-12-02T00:00:00-05:00"},
            "2025-11-27T04:59:59Z",
            False,
        ),
        pytest.param(
            {"starts_at": "2025-12-01T00:00:00Z", "ends_at": "2025-12-08T00:00:00Z", "from": "22:00", "to": "06:00"},
            "2025-12-03T23:00:00Z",
            True,
            id="both-hold",
        ),
        pytest.param(
            {"starts_at": "2025-12-01T00:00:00Z", "ends_at": "2025-12-08T00:00:00Z", "from": "22:00", "to": "06:00"},
            "2025-12-03T12:00:00Z",
            False,
            id="absolute-but-daytime",
        ),
        pytest.param(
            {"starts_at": "2025-12-01T00:00:00Z", "ends_at": "2025-12-08T00:00:00Z", "from": "22:00", "to": "06:00"},
            "2025-12-08T23:00:00Z",
            False,
            id="night-but-after",
        ),
    ],
)
def test_freeze_window_active(fields: dict[str, Any], at: str, active: bool) -> None:
    assert fw(**fields).active_at(z(at)) is active


BERLIN_SAT_NIGHT = {"days": ["sat"], "from": "22:00", "to": "06:00", "timezone": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("fields", "at", "active"),
    [
        # Spring forward (2025-03-30 02:00 CET -> 03:00 CEST): Sat 22:00 CET = 21:00Z to Sun 06:00 CEST = 04:00Z, 7 h.
        pytest.param(BERLIN_SAT_NIGHT, "2025-03-29T20:59:59Z", False, id="spring-before"),
        pytest.param(BERLIN_SAT_NIGHT, "2025-03-29T21:00:00Z", True, id="spring-start"),
        pytest.param(BERLIN_SAT_NIGHT, "2025-03-30T03:59:59Z", True, id="spring-05-59-cest"),
        pytest.param(BERLIN_SAT_NIGHT, "2025-03-30T04:00:00Z", False, id="spring-end"),
        pytest.param(BERLIN_SAT_NIGHT, "2025-03-30T04:30:00Z", False, id="spring-not-a-fixed-offset"),
        # Fall back (2025-10-26 03:00 CEST -> 02:00 CET): Sat 22:00 CEST = 20:00Z to Sun 06:00 CET = 05:00Z, 9 h.
        pytest.param(BERLIN_SAT_NIGHT, "2025-10-25T19:59:59Z", False, id="fall-before"),
        pytest.param(BERLIN_SAT_NIGHT, "2025-10-25T20:00:00Z", True, id="fall-start"),
        pytest.param(BERLIN_SAT_NIGHT, "2025-10-26T04:59:59Z", True, id="fall-05-59-cet"),
        pytest.param(BERLIN_SAT_NIGHT, "2025-10-26T05:00:00Z", False, id="fall-end"),
        # A start inside the spring-forward gap (02:30 never happens) starts at the jump, 01:00Z.
        pytest.param(
            {"days": ["sun"], "from": "02:30", "to": "04:00", "timezone": "Europe/Berlin"},
            "2025-03-30T00:59:59Z",
            False,
            id="gap-start-before-jump",
        ),
        pytest.param(
            {"days": ["sun"], "from": "02:30", "to": "04:00", "timezone": "Europe/Berlin"},
            "2025-03-30T01:00:00Z",
            True,
            id="gap-start-at-jump",
        ),
        pytest.param(
            {"days": ["sun"], "from": "00:00", "to": "02:30", "timezone": "Europe/Berlin"},
            "2025-03-30T01:00:00Z",
            False,
            id="gap-end-at-jump",
        ),
        # A start that happens twice (02:30 CEST = 00:30Z, 02:30 CET = 01:30Z) starts at the first.
        pytest.param(
            {"days": ["sun"], "from": "02:30", "to": "05:00", "timezone": "Europe/Berlin"},
            "2025-10-26T00:29:59Z",
            False,
            id="fold-start-before-first",
        ),
        pytest.param(
            {"days": ["sun"], "from": "02:30", "to": "05:00", "timezone": "Europe/Berlin"},
            "2025-10-26T00:30:00Z",
            True,
            id="fold-start-first",
        ),
        # ...and an end that happens twice ends at the second.
        pytest.param(
            {"days": ["sun"], "from": "00:00", "to": "02:30", "timezone": "Europe/Berlin"},
            "2025-10-26T01:29:59Z",
            True,
            id="fold-end-before-second",
        ),
        pytest.param(
            {"days": ["sun"], "from": "00:00", "to": "02:30", "timezone": "Europe/Berlin"},
            "2025-10-26T01:30:00Z",
            False,
            id="fold-end-second",
        ),
        # US DST night with a window across it (2025-03-09 02:00 EST -> 03:00 EDT): Sat 23:00 EST to Sun 05:00 EDT.
        pytest.param(
            {"days": ["sat"], "from": "23:00", "to": "05:00", "timezone": "America/New_York"},
            "2025-03-09T08:59:59Z",
            True,
            id="us-spring-05-59",
        ),
        pytest.param(
            {"days": ["sat"], "from": "23:00", "to": "05:00", "timezone": "America/New_York"},
            "2025-03-09T09:00:00Z",
            False,
            id="us-spring-end",
        ),
    ],
)
def test_freeze_window_across_dst(fields: dict[str, Any], at: str, active: bool) -> None:
    assert fw(**fields).active_at(z(at)) is active


def test_freeze_window_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fw(days=["wed"]).active_at(datetime(2025, 6, 11, 12, 0))


def test_freeze_vote_reads_the_instant_in_the_window_zone() -> None:
    # 23:30 UTC on Friday is already Saturday 01:30 in Berlin (CEST).
    policies = {"freeze_windows": [{"name": "weekend", "days": ["sat", "sun"], "timezone": "Europe/Berlin"}]}
    late_friday = datetime(2025, 6, 13, 23, 30, tzinfo=UTC)
    assert evaluate(make(policies=policies, now=late_friday, **AUTONOMOUS)).decision == Decision.deny
    assert evaluate(make(policies=policies, now=late_friday - timedelta(hours=2), **AUTONOMOUS)).decision == (
        Decision.auto_execute
    )


# --- config/policies.yaml ------------------------------------------------------------------------------


def commented_block(text: str, key: str) -> str:
    """The commented example that starts with `# <indent><key>:`, uncommented and dedented."""
    lines = [line.lstrip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("# ") and line[2:].strip() == f"{key}:")
    indent = len(lines[start][2:]) - len(lines[start][2:].lstrip())
    block = [lines[start][2:]]
    for line in lines[start + 1 :]:
        body = line[2:]
        if not line.startswith("# ") or len(body) - len(body.lstrip()) <= indent:
            break
        block.append(body)
    return "\n".join(b[indent:] for b in block)


def test_shipped_policies_file_is_the_safe_default() -> None:
    shipped = load_policies(CONFIG_DIR)
    assert shipped == PoliciesFile()
    assert shipped.freeze_windows == []
    assert shipped.two_person.min_radius is None


@pytest.mark.parametrize("key", ["environments", "freeze_windows", "overrides"])
def test_shipped_policies_examples_are_valid(key: str) -> None:
    text = (CONFIG_DIR / "policies.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(commented_block(text, key))
    loaded = PoliciesFile.model_validate({"blast_radius": data} if key == "environments" else data)
    if key == "freeze_windows":
        assert [w.name for w in loaded.freeze_windows] == ["weekend", "nightly-batch", "black-friday"]
        # Friday 18:00 Berlin (CEST) is 16:00Z.
        assert loaded.freeze_windows[0].active_at(z("2025-06-13T16:00:00Z"))
        assert not loaded.freeze_windows[0].active_at(z("2025-06-13T15:59:00Z"))
    elif key == "overrides":
        assert loaded.overrides[0].deny == ["ecs_stop_task"]
        assert loaded.overrides[1].min_role == {"rollback_deployment": Role.admin}
    else:
        assert loaded.blast_radius.environments[0].name == "production"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param(
            'freeze_windows:\n  - name: nights\n    from: 22:00\n    to: "06:00"\n',
            ["freeze_windows.0.from", 'write the time in quotes, e.g. "22:00"', "number 1320"],
            id="unquoted-time",
        ),
        pytest.param(
            "freeze_windows:\n  - name: n\n    days: [fri]\n    timezone: Mars/Olympus\n",
            ["freeze_windows.0.timezone", "unknown IANA time zone 'Mars/Olympus'"],
            id="unknown-zone",
        ),
        pytest.param(
            "freeze_windows:\n  - name: n\n    days: [fri, funday]\n",
            ["freeze_windows.0.days.1"],
            id="bad-day",
        ),
        pytest.param(
            'freeze_windows:\n  - name: n\n    from: "25:00"\n',
            ["freeze_windows.0.from"],
            id="bad-time",
        ),
        pytest.param(
            'freeze_windows:\n  - name: n\n    from: "22:00+01:00"\n',
            ["freeze_windows.0.from", "without an offset"],
            id="offset-time",
        ),
        pytest.param(
            "freeze_windows:\n  - name: n\n    starts_at: 2025-11-27T00:00:00Z\n",
            ["freeze_windows.0", "give both starts_at and ends_at"],
            id="half-absolute",
        ),
        pytest.param(
            "freeze_windows:\n  - name: n\n    starts_at: 2025-11-27T00:00:00\n    ends_at: 2025-11-28T00:00:00Z\n",
            ["freeze_windows.0.starts_at", "timezone"],
            id="naive-absolute",
        ),
        pytest.param(
            "freeze_windows:\n  - name: n\n    starts_at: 2025-11-28T00:00:00Z\n    ends_at: 2025-11-27T00:00:00Z\n",
            ["freeze_windows.0", "ends_at must be after starts_at"],
            id="reversed-absolute",
        ),
        pytest.param(
            "freeze_windows:\n  - name: n\n    decision: require_approval\n    days: [fri]\n",
            ["freeze_windows.0.decision"],
            id="freeze-cannot-just-ask",
        ),
        pytest.param(
            "freeze_windows:\n  - name: n\n",
            ["freeze_windows.0", "needs days/from/to (weekly) or starts_at/ends_at (absolute)"],
            id="empty-window",
        ),
        pytest.param(
            "freeze_windows:\n  - {name: n, days: [fri]}\n  - {name: n, days: [sat]}\n",
            ["duplicate freeze window names: n"],
            id="duplicate-window",
        ),
        pytest.param(
            "blast_radius:\n  max_auto_execute: huge\n",
            ["blast_radius.max_auto_execute"],
            id="bad-radius",
        ),
        pytest.param(
            "blast_radius:\n  max_auto_execute: high\n  max_allowed: medium\n",
            ["blast_radius", "max_auto_execute (high) is above max_allowed (medium)"],
            id="auto-above-allowed",
        ),
        pytest.param(
            "blast_radius:\n  environments:\n    - name: prod\n      max_auto_execute: low\n",
            ["blast_radius.environments.0", "an environment needs workspaces, namespaces or services"],
            id="unscoped-environment",
        ),
        pytest.param(
            "two_person:\n  min_radius: extreme\n",
            ["two_person.min_radius"],
            id="bad-two-person",
        ),
        pytest.param(
            "overrides:\n  - deny: [ecs_stop_task, ecs_explode]\n",
            ["overrides.0.deny.1"],
            id="unknown-kind",
        ),
        pytest.param(
            "overrides:\n  - min_role: {rollback_deployment: root}\n",
            ["overrides.0.min_role.rollback_deployment"],
            id="unknown-role",
        ),
        pytest.param(
            "overrides:\n  - namespaces: [prod]\n",
            ["overrides.0", "an override needs deny, dry_run_only, require_approval or min_role"],
            id="empty-override",
        ),
        pytest.param("freeze_window: []\n", ["freeze_window: Extra inputs are not permitted"], id="typo-top-level"),
        pytest.param("freeze_windows: [\n", ["not valid YAML"], id="bad-yaml"),
    ],
)
def test_policies_file_errors_name_file_and_key(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, PoliciesFile)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_policies_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"policies\.yaml: cannot read"):
        load_policies(tmp_path)


def test_day_names_are_forgiving() -> None:
    assert fw(days=["Monday", " SAT ", "sun"]).days == ["mon", "sat", "sun"]
    assert fw(days="fri").days == ["fri"]


# --- monotonicity ----------------------------------------------------------------------------------------

_decision = st.sampled_from([*Decision, None])
_votes = st.lists(st.builds(v, _decision), max_size=12)


@given(votes=_votes, position=st.integers(min_value=0, max_value=12))
def test_adding_a_deny_vote_always_denies(votes: list[RuleVote], position: int) -> None:
    before = combine(votes)
    after = combine([*votes[:position], v(Decision.deny, "extra"), *votes[position:]])
    assert after == Decision.deny
    assert after.strictness >= before.strictness


@given(votes=_votes.filter(lambda vs: any(x.decision is not None for x in vs)), extra=_decision)
def test_adding_any_vote_never_loosens_a_decision_someone_voted_on(
    votes: list[RuleVote], extra: Decision | None
) -> None:
    assert combine([*votes, v(extra)]).strictness >= combine(votes).strictness


_ACTIONS: list[CatalogAction] = [
    RESTART,
    ROLLOUT,
    ROLLBACK,
    ScaleDeployment(namespace="shop", deployment="checkout", replicas=0),
    ScaleDeployment(namespace="prod", deployment="api", replicas=30),
    EcsScaleService(cluster="prod", service="api", desired_count=2),
    EcsForceNewDeployment(cluster="prod", service="api"),
    ECS_STOP,
    SuggestConfigFix(namespace="web", deployment="site", changes={"replicas": "3"}),
]
_limit = st.sampled_from(["none", "low", "medium", "high"])


@st.composite
def policy_inputs(draw: st.DrawFn) -> PolicyInput:
    action = draw(st.sampled_from(_ACTIONS))
    auto, allowed = sorted([draw(_limit), draw(_limit)], key=["none", "low", "medium", "high"].index)
    windows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "days": st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), max_size=3),
                    "from": st.sampled_from(["00:00", "09:00", "22:00"]),
                    "timezone": st.sampled_from(["UTC", "Europe/Berlin", "Asia/Tokyo"]),
                    "decision": st.sampled_from(["deny", "dry_run_only"]),
                    "namespaces": st.sampled_from([[], ["shop"], ["prod"]]),
                }
            ),
            max_size=2,
        )
    )
    policies = {
        "blast_radius": {"max_auto_execute": auto, "max_allowed": allowed},
        "two_person": {"min_radius": draw(st.sampled_from([None, "low", "medium", "high"]))},
        "freeze_windows": [{"name": f"w{i}", **w} for i, w in enumerate(windows)],
        "overrides": draw(
            st.lists(
                st.fixed_dictionaries(
                    {"require_approval": st.lists(st.sampled_from(list(CATALOG)), max_size=2, unique=True)}
                ).filter(lambda o: o["require_approval"]),
                max_size=1,
            )
        ),
    }
    return make(
        action,
        policies=policies,
        allowed_namespaces=draw(st.sampled_from([[], ["shop"], ["shop", "web", "prod"]])),
        dry_run=draw(st.booleans()),
        approval_required=draw(st.booleans()),
        autonomy_enabled=draw(st.booleans()),
        autonomous_actions=draw(st.lists(st.sampled_from(list(CATALOG)), max_size=4)),
        max_scale_replicas=draw(st.sampled_from([0, 5, 20])),
        budget=draw(st.sampled_from([None, HEALTHY, SPENT])),
        current_replicas=draw(st.sampled_from([None, 1, 10])),
        service=draw(st.sampled_from([None, "checkout"])),
        now=draw(
            st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))
        ),
    )


@settings(max_examples=200, deadline=None)
@given(inp=policy_inputs(), scope=st.sampled_from([{}, {"workspaces": ["payments"]}, {"services": ["checkout"]}]))
def test_a_deny_override_can_only_tighten(inp: PolicyInput, scope: dict[str, list[str]]) -> None:
    before = evaluate(inp)
    override = {"deny": [inp.action.action], **scope}
    policies = inp.policies.model_copy(
        update={
            "overrides": [*inp.policies.overrides, PoliciesFile.model_validate({"overrides": [override]}).overrides[0]]
        }
    )
    after = evaluate(inp.model_copy(update={"policies": policies}))
    assert after.decision.strictness >= before.decision.strictness
    if override.get("services") and inp.service != "checkout":
        assert after.decision == before.decision  # out of scope: nothing changes
    else:
        assert after.decision == Decision.deny
        assert not after.execution_permitted(approvers={"a": Role.admin, "b": Role.admin})


@settings(max_examples=200, deadline=None)
@given(inp=policy_inputs(), decision=st.sampled_from(["deny", "dry_run_only"]))
def test_a_freeze_in_force_can_only_tighten(inp: PolicyInput, decision: str) -> None:
    before = evaluate(inp)
    always = FreezeWindow.model_validate({"name": "always", "from": "00:00", "to": "00:00", "decision": decision})
    policies = inp.policies.model_copy(update={"freeze_windows": [*inp.policies.freeze_windows, always]})
    after = evaluate(inp.model_copy(update={"policies": policies}))
    assert after.decision.strictness >= max(before.decision.strictness, Decision(decision).strictness)


@settings(max_examples=200, deadline=None)
@given(inp=policy_inputs())
def test_outside_the_allowlist_is_always_denied(inp: PolicyInput) -> None:
    if inp.namespace is None:
        return  # ECS: the allowlist does not apply
    outside = inp.model_copy(update={"allowed_namespaces": ["somewhere-else"]})
    result = evaluate(outside)
    assert result.decision == Decision.deny
    assert not result.execution_permitted(approvers={"a": Role.admin, "b": Role.admin})
