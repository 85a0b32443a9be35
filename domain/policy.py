"""The policy engine: may this action run, and how?

Pure (imported inside the workflow sandbox): no clock, `now` is passed in. Every rule votes with a reason;
the most restrictive vote wins (deny > dry_run_only > require_approval > auto_execute) and the decision
lists every vote. A rule that has no data, or does not apply to the action, abstains (decision None) and
says why. Rules come from settings (dry-run, APPROVAL_REQUIRED, MAX_SCALE_REPLICAS, autonomy), the
workspace (namespace allowlist), the catalog, `config/policies.yaml` (blast-radius limits, two-person
rule, change-freeze windows, per-action overrides) and the service's error budget (domain/slo.py).

A deny must never reach a provider, whoever approves: `PolicyDecision.execution_permitted` is False for
deny and dry_run_only whatever the approvers, and the workflow enforces it before calling a provider.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.actions import (
    CATALOG,
    ActionKind,
    ActionSpec,
    BlastRadius,
    CatalogAction,
    EcsScaleService,
    Role,
    ScaleDeployment,
    SuggestConfigFix,
)
from domain.settings import CONFIG_DIR, Settings, WorkspaceConfig, load_yaml
from domain.slo import BudgetStatus


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Decision(StrEnum):
    """What may happen to an action, most restrictive first."""

    deny = "deny"  # never reaches a provider, whoever approves
    dry_run_only = "dry_run_only"  # the provider shows its diff and changes nothing
    require_approval = "require_approval"  # runs once enough humans approve
    auto_execute = "auto_execute"  # runs without a human

    @property
    def strictness(self) -> int:
        """3 for deny down to 0 for auto_execute: a larger number restricts more."""
        members = list(Decision)
        return len(members) - 1 - members.index(self)


def most_restrictive(decisions: Iterable[Decision | None]) -> Decision | None:
    """The most restrictive of the decisions, ignoring abstentions (None if all abstain)."""
    cast = [d for d in decisions if d is not None]
    return max(cast, key=lambda d: d.strictness) if cast else None


# When every rule abstains nothing vouches for the action, so a human decides.
FALLBACK_DECISION = Decision.require_approval


class RuleVote(_Model):
    """One rule's say: a decision, or None when the rule abstains; the reason always."""

    rule: str
    decision: Decision | None
    reason: str


def combine(votes: Iterable[RuleVote]) -> Decision:
    """Precedence: the most restrictive vote wins; abstentions do not count."""
    return most_restrictive(v.decision for v in votes) or FALLBACK_DECISION


class PolicyDecision(_Model):
    """The verdict on one action and every rule's vote."""

    decision: Decision
    votes: list[RuleVote]
    two_person: bool  # the action's blast radius reaches the two-person threshold
    approvers_needed: int  # distinct approvers before it runs: 1 or 2 for require_approval, else 0
    min_role: Role  # least role an approver must hold
    blast_radius: BlastRadius | None = None  # effective radius (a scale to zero counts as high)

    @property
    def reasons(self) -> list[str]:
        """Every vote as "rule: decision: reason" (abstain for None)."""
        return [f"{v.rule}: {v.decision.value if v.decision else 'abstain'}: {v.reason}" for v in self.votes]

    def execution_permitted(self, *, approvers: Mapping[str, Role]) -> bool:
        """Whether a provider may apply the action given these approvers (user -> role), distinct by user."""
        if self.decision in (Decision.deny, Decision.dry_run_only):
            return False
        if self.decision is Decision.auto_execute:
            return True
        qualified = [user for user, role in approvers.items() if role.rank >= self.min_role.rank]
        # require_approval always means at least one human, whatever approvers_needed says.
        return len(qualified) >= max(self.approvers_needed, 1)


# --- config/policies.yaml ------------------------------------------------------------------------------

RadiusLimit = Literal["none", "low", "medium", "high"]  # "none": no action at all passes this limit
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _limit_rank(limit: RadiusLimit) -> int:
    return -1 if limit == "none" else BlastRadius(limit).rank


class _Scoped(_Model):
    """Where an entry applies; an empty list matches everything."""

    workspaces: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)  # actions without a namespace (ECS) never match
    services: list[str] = Field(default_factory=list)

    def matches(self, *, workspace: str, namespace: str | None, service: str | None) -> bool:
        """Whether an action of this workspace/namespace/service is in scope."""
        return (
            (not self.workspaces or workspace in self.workspaces)
            and (not self.namespaces or namespace in self.namespaces)
            and (not self.services or service in self.services)
        )

    def scope_text(self) -> str:
        parts = [
            f"{label} {', '.join(values)}"
            for label, values in (
                ("workspaces", self.workspaces),
                ("namespaces", self.namespaces),
                ("services", self.services),
            )
            if values
        ]
        return f" ({'; '.join(parts)})" if parts else ""


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class FreezeWindow(_Scoped):
    """A change freeze: weekly (days + from/to local times in a time zone) and/or absolute (starts_at/ends_at).

    Weekly: `days` are the days the window starts on (default every day); `from`/`to` are local wall times
    (default 00:00); `to` at or before `from` ends the next day, so 22:00-06:00 spans midnight and
    from == to lasts one whole day. With both forms, the window is in force when both hold (e.g. nights
    during December). `decision` is what the freeze imposes: deny, or dry_run_only.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    decision: Literal["deny", "dry_run_only"] = "deny"
    reason: str = ""
    days: list[Weekday] = Field(default_factory=list)
    from_: time | None = Field(default=None, alias="from")
    to: time | None = None
    timezone: str = "UTC"
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None

    @field_validator("days", mode="before")
    @classmethod
    def _day_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            out = []
            for day in value:
                if isinstance(day, str):
                    day = day.strip().lower()
                    if day in _FULL_DAY_NAMES:
                        day = day[:3]
                out.append(day)
            return out
        return value

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _quoted_times(cls, value: Any) -> Any:
        # PyYAML reads an unquoted 22:00 as the base-60 integer 1320: refuse it rather than guess.
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(
                f'write the time in quotes, e.g. "22:00" (unquoted, YAML reads HH:MM as the number {value})'
            )
        return value

    @field_validator("from_", "to")
    @classmethod
    def _naive_times(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("give a local time without an offset; the window's timezone says where")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            _zone(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Berlin, America/New_York, UTC)") from exc
        return value

    @model_validator(mode="after")
    def _shape(self) -> FreezeWindow:
        if (self.starts_at is None) != (self.ends_at is None):
            raise ValueError("give both starts_at and ends_at, or neither")
        if self.starts_at is not None and self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if not self.recurring and self.starts_at is None:
            raise ValueError("a freeze window needs days/from/to (weekly) or starts_at/ends_at (absolute)")
        return self

    @property
    def recurring(self) -> bool:
        return bool(self.days) or self.from_ is not None or self.to is not None

    def active_at(self, now: datetime) -> bool:
        """Whether the freeze is in force at the instant `now` (timezone-aware)."""
        if now.utcoffset() is None:
            # A naive time would be read in the host's zone: the answer would depend on the machine.
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(UTC)
        starts, ends = self.starts_at, self.ends_at
        if starts is not None and ends is not None and not starts.astimezone(UTC) <= now < ends.astimezone(UTC):
            return False
        return not self.recurring or self._weekly_active(now)

    def _weekly_active(self, now: datetime) -> bool:
        zone = _zone(self.timezone)
        start_time = self.from_ or time(0)
        end_time = self.to or time(0)
        days = set(self.days or WEEKDAYS)
        today = now.astimezone(zone).date()
        # A window lasts at most one (local) day, so only one that started yesterday or today can hold now.
        for start_day in (today - timedelta(days=1), today):
            if WEEKDAYS[start_day.weekday()] not in days:
                continue
            end_day = start_day + timedelta(days=1) if end_time <= start_time else start_day
            start = _wall_to_utc(start_day, start_time, zone, earliest=True)
            end = _wall_to_utc(end_day, end_time, zone, earliest=False)
            if start <= now < end:
                return True
        return False

    def describe(self) -> str:
        """Human text of when the window holds, for vote reasons."""
        parts = []
        if self.recurring:
            days = ", ".join(self.days) if self.days else "every day"
            start, end = (self.from_ or time(0)), (self.to or time(0))
            parts.append(f"{days} {start:%H:%M}-{end:%H:%M} {self.timezone}")
        if self.starts_at is not None and self.ends_at is not None:
            parts.append(f"{self.starts_at.isoformat()} to {self.ends_at.isoformat()}")
        return " within ".join(parts)


def _wall_to_utc(day: date, at: time, zone: ZoneInfo, *, earliest: bool) -> datetime:
    """The UTC instant of a local wall time, defined across DST changes.

    A wall time that happens twice (clocks go back) gives the earlier instant for a window's start and the
    later one for its end, so the freeze covers both readings. A wall time that never happens (clocks jump
    forward over it) gives the instant of the jump: that is when the local clock passes it.
    """
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return first
    lo, hi = min(first, second), max(first, second)
    # Round-trip through UTC: astimezone(zone) on a datetime already in `zone` would return it unchanged.
    if lo.astimezone(zone).replace(tzinfo=None) == wall:
        return lo if earliest else hi
    # In the gap: find the transition between the two readings (offsets change on whole seconds).
    target = hi.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + timedelta(seconds=int((hi - lo).total_seconds()) // 2)
        if mid.astimezone(zone).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi


class RadiusLimits(_Model):
    """Blast-radius limits: above max_auto_execute a human approves; above max_allowed it is denied."""

    max_auto_execute: RadiusLimit = "medium"
    max_allowed: RadiusLimit = "high"

    @model_validator(mode="after")
    def _ordered(self) -> RadiusLimits:
        if _limit_rank(self.max_auto_execute) > _limit_rank(self.max_allowed):
            raise ValueError(f"max_auto_execute ({self.max_auto_execute}) is above max_allowed ({self.max_allowed})")
        return self


class RadiusEnvironment(RadiusLimits, _Scoped):
    """Limits for part of the estate (e.g. production namespaces); they replace the global ones there."""

    name: str = Field(min_length=1)

    @model_validator(mode="after")
    def _scoped(self) -> RadiusEnvironment:
        if not (self.workspaces or self.namespaces or self.services):
            raise ValueError("an environment needs workspaces, namespaces or services (global limits go one level up)")
        return self


class BlastRadiusPolicy(RadiusLimits):
    """Global limits plus per-environment ones; if several environments match, the strictest limits hold."""

    environments: list[RadiusEnvironment] = Field(default_factory=list)


class TwoPersonRule(_Model):
    """At or above this blast radius two distinct approvers are needed; None turns the rule off."""

    min_radius: BlastRadius | None = None


class ActionOverride(_Scoped):
    """Per-action overrides in a scope, e.g. deny ecs_stop_task in production, admin approves rollbacks."""

    name: str = ""
    reason: str = ""
    deny: list[ActionKind] = Field(default_factory=list)
    dry_run_only: list[ActionKind] = Field(default_factory=list)
    require_approval: list[ActionKind] = Field(default_factory=list)
    min_role: dict[ActionKind, Role] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _says_something(self) -> ActionOverride:
        if not (self.deny or self.dry_run_only or self.require_approval or self.min_role):
            raise ValueError("an override needs deny, dry_run_only, require_approval or min_role")
        return self

    def decision_for(self, kind: str) -> Decision | None:
        """The most restrictive decision this override imposes on `kind`, if any."""
        return most_restrictive(
            decision
            for decision, kinds in (
                (Decision.deny, self.deny),
                (Decision.dry_run_only, self.dry_run_only),
                (Decision.require_approval, self.require_approval),
            )
            if kind in kinds
        )

    def label(self) -> str:
        return f"override {self.name!r}" if self.name else "override"


class PoliciesFile(_Model):
    """config/policies.yaml. The defaults are the shipped, safe policy."""

    blast_radius: BlastRadiusPolicy = Field(default_factory=BlastRadiusPolicy)
    two_person: TwoPersonRule = Field(default_factory=TwoPersonRule)
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    overrides: list[ActionOverride] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_window_names(self) -> PoliciesFile:
        names = [w.name for w in self.freeze_windows]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate freeze window names: {', '.join(dupes)}")
        return self


def load_policies(config_dir: Path = CONFIG_DIR) -> PoliciesFile:
    """Load and validate config/policies.yaml; errors name the file and the key."""
    return load_yaml(config_dir / "policies.yaml", PoliciesFile)


# --- evaluation ----------------------------------------------------------------------------------------


class PolicyInput(_Model):
    """Everything the rules look at. Settings values default to the shipped (safe) settings."""

    action: Annotated[CatalogAction, Field(discriminator="action")]
    spec: ActionSpec
    workspace: str
    allowed_namespaces: list[str] = Field(default_factory=list)  # empty = every namespace
    dry_run: bool = True
    approval_required: bool = True
    max_scale_replicas: int = Field(default=20, ge=0)
    autonomy_enabled: bool = False
    autonomous_actions: list[str] = Field(default_factory=list)
    policies: PoliciesFile = Field(default_factory=PoliciesFile)
    budget: BudgetStatus | None = None  # the service's error budget; None = no SLO for it
    current_replicas: int | None = Field(default=None, ge=0)
    now: AwareDatetime
    service: str | None = None

    @property
    def namespace(self) -> str | None:
        """The namespace the action changes (ECS actions have none)."""
        value = getattr(self.action, "namespace", None)
        return value if isinstance(value, str) else None

    @classmethod
    def from_settings(
        cls,
        *,
        action: CatalogAction,
        settings: Settings,
        workspace: WorkspaceConfig,
        policies: PoliciesFile,
        now: datetime,
        budget: BudgetStatus | None = None,
        current_replicas: int | None = None,
        service: str | None = None,
    ) -> PolicyInput:
        """Build the input from Settings, the workspace's configuration and the catalog entry."""
        return cls(
            action=action,
            spec=CATALOG[action.action],
            workspace=workspace.name,
            allowed_namespaces=list(workspace.allowed_namespaces),
            dry_run=settings.dry_run,
            approval_required=settings.approval_required,
            max_scale_replicas=settings.max_scale_replicas,
            autonomy_enabled=settings.autonomy_enabled,
            autonomous_actions=list(settings.autonomous_actions),
            policies=policies,
            budget=budget,
            current_replicas=current_replicas,
            now=now,
            service=service,
        )


def _target_replicas(action: CatalogAction) -> tuple[str | None, str | None]:
    """(raw replica target, what it scales) for actions that set a replica count, else (None, None)."""
    if isinstance(action, ScaleDeployment):
        return str(action.replicas), f"deployment {action.namespace}/{action.deployment}"
    if isinstance(action, EcsScaleService):
        return str(action.desired_count), f"ECS service {action.cluster}/{action.service}"
    if isinstance(action, SuggestConfigFix):
        for key in ("replicas", "spec.replicas"):
            if key in action.changes:
                return action.changes[key].strip(), f"the manifest of {action.namespace}/{action.deployment}"
    return None, None


def _parse_replicas(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() else None


def effective_blast_radius(inp: PolicyInput) -> tuple[BlastRadius, str]:
    """The catalog's radius, raised to high when a scale takes the workload down or halves it."""
    radius = inp.spec.blast_radius
    if not isinstance(inp.action, ScaleDeployment | EcsScaleService):
        return radius, f"{inp.spec.kind} has blast radius {radius}"
    raw, what = _target_replicas(inp.action)
    target = _parse_replicas(raw or "")
    if target == 0:
        return BlastRadius.high, f"scaling {what} to 0 takes it down: blast radius high"
    current = inp.current_replicas
    if target is not None and current and target <= current // 2:
        return BlastRadius.high, f"scaling {what} from {current} to {target} removes half or more: blast radius high"
    return radius, f"{inp.spec.kind} has blast radius {radius}"


def rule_namespace_allowlist(inp: PolicyInput) -> RuleVote:
    """Outside the workspace's namespace allowlist: deny (Kubernetes and GitHub actions; ECS has none)."""
    name = "namespace_allowlist"
    namespace = inp.namespace
    if inp.spec.provider == "ecs" or namespace is None:
        return RuleVote(
            rule=name,
            decision=None,
            reason=f"{inp.spec.kind} has no namespace: the allowlist applies to Kubernetes and GitHub actions",
        )
    if not inp.allowed_namespaces:
        return RuleVote(
            rule=name,
            decision=Decision.auto_execute,
            reason=f"workspace {inp.workspace} allows every namespace",
        )
    if namespace in inp.allowed_namespaces:
        return RuleVote(
            rule=name,
            decision=Decision.auto_execute,
            reason=f"namespace {namespace} is in workspace {inp.workspace}'s allowlist",
        )
    return RuleVote(
        rule=name,
        decision=Decision.deny,
        reason=(
            f"namespace {namespace} is outside workspace {inp.workspace}'s allowlist "
            f"({', '.join(inp.allowed_namespaces)}): denied whoever approves"
        ),
    )


def rule_catalog(inp: PolicyInput) -> RuleVote:
    """The catalog entry must match the action; a non-executable action can only be shown (dry run)."""
    name = "catalog"
    kind = inp.action.action
    if inp.spec.kind != kind:
        return RuleVote(
            rule=name,
            decision=Decision.deny,
            reason=f"the catalog entry is for {inp.spec.kind} but the action is {kind}",
        )
    if not inp.spec.executable:
        return RuleVote(
            rule=name,
            decision=Decision.dry_run_only,
            reason=f"{kind} is not executable: it can only be proposed (dry run shows its diff)",
        )
    return RuleVote(rule=name, decision=Decision.auto_execute, reason=f"{kind} is an executable catalog action")


def rule_max_scale_replicas(inp: PolicyInput) -> RuleVote:
    """A replica target above MAX_SCALE_REPLICAS (or not a whole number): deny."""
    name = "max_scale_replicas"
    raw, what = _target_replicas(inp.action)
    if raw is None:
        return RuleVote(rule=name, decision=None, reason=f"{inp.action.action} does not set a replica count")
    target = _parse_replicas(raw)
    if target is None:
        return RuleVote(
            rule=name,
            decision=Decision.deny,
            reason=f"replica target {raw!r} for {what} is not a whole number",
        )
    if target > inp.max_scale_replicas:
        return RuleVote(
            rule=name,
            decision=Decision.deny,
            reason=f"{target} replicas for {what} exceeds MAX_SCALE_REPLICAS {inp.max_scale_replicas}",
        )
    return RuleVote(
        rule=name,
        decision=Decision.auto_execute,
        reason=f"{target} replicas for {what} is within MAX_SCALE_REPLICAS {inp.max_scale_replicas}",
    )


def rule_dry_run(inp: PolicyInput) -> RuleVote:
    """DRY_RUN on (the default): the action only shows its diff."""
    if inp.dry_run:
        return RuleVote(
            rule="dry_run",
            decision=Decision.dry_run_only,
            reason="DRY_RUN is on (the default): the provider shows the diff and changes nothing",
        )
    return RuleVote(rule="dry_run", decision=Decision.auto_execute, reason="DRY_RUN is off: actions change the target")


def rule_approval_required(inp: PolicyInput) -> RuleVote:
    """APPROVAL_REQUIRED on: a human approves every action, autonomous ones included."""
    if inp.approval_required:
        return RuleVote(
            rule="approval_required",
            decision=Decision.require_approval,
            reason="APPROVAL_REQUIRED is on: a human approves every action",
        )
    return RuleVote(
        rule="approval_required",
        decision=Decision.auto_execute,
        reason="APPROVAL_REQUIRED is off",
    )


def rule_autonomy(inp: PolicyInput) -> RuleVote:
    """Only with AUTONOMY_ENABLED and the kind in AUTONOMOUS_ACTIONS may an action run without a human."""
    kind = inp.action.action
    if not inp.autonomy_enabled:
        return RuleVote(
            rule="autonomy",
            decision=Decision.require_approval,
            reason="AUTONOMY_ENABLED is off: a human approves",
        )
    if kind not in inp.autonomous_actions:
        return RuleVote(
            rule="autonomy",
            decision=Decision.require_approval,
            reason=f"{kind} is not in AUTONOMOUS_ACTIONS: a human approves",
        )
    return RuleVote(
        rule="autonomy",
        decision=Decision.auto_execute,
        reason=f"AUTONOMY_ENABLED and {kind} is in AUTONOMOUS_ACTIONS",
    )


def _radius_limits(inp: PolicyInput) -> tuple[RadiusLimit, RadiusLimit, str]:
    """(max_auto_execute, max_allowed, where they come from) for this action."""
    policy = inp.policies.blast_radius
    matching = [
        env
        for env in policy.environments
        if env.matches(workspace=inp.workspace, namespace=inp.namespace, service=inp.service)
    ]
    if not matching:
        return policy.max_auto_execute, policy.max_allowed, "global limits"
    auto = min((env.max_auto_execute for env in matching), key=_limit_rank)
    allowed = min((env.max_allowed for env in matching), key=_limit_rank)
    return auto, allowed, f"environment {', '.join(env.name for env in matching)}"


def rule_blast_radius(inp: PolicyInput) -> RuleVote:
    """Above max_allowed: deny; above max_auto_execute: require approval."""
    radius, why = effective_blast_radius(inp)
    auto, allowed, source = _radius_limits(inp)
    if radius.rank > _limit_rank(allowed):
        return RuleVote(
            rule="blast_radius",
            decision=Decision.deny,
            reason=f"{why}, above max_allowed {allowed} ({source})",
        )
    if radius.rank > _limit_rank(auto):
        return RuleVote(
            rule="blast_radius",
            decision=Decision.require_approval,
            reason=f"{why}, above max_auto_execute {auto} ({source}): a human approves",
        )
    return RuleVote(
        rule="blast_radius",
        decision=Decision.auto_execute,
        reason=f"{why}, within max_auto_execute {auto} ({source})",
    )


def rule_two_person(inp: PolicyInput) -> RuleVote:
    """At or above the two-person radius two distinct approvers are needed, so it cannot auto-execute."""
    threshold = inp.policies.two_person.min_radius
    if threshold is None:
        return RuleVote(rule="two_person", decision=None, reason="the two-person rule is off")
    radius, _ = effective_blast_radius(inp)
    if radius.rank >= threshold.rank:
        return RuleVote(
            rule="two_person",
            decision=Decision.require_approval,
            reason=f"blast radius {radius} is at or above {threshold}: two distinct approvers needed",
        )
    return RuleVote(
        rule="two_person",
        decision=Decision.auto_execute,
        reason=f"blast radius {radius} is below the two-person threshold {threshold}",
    )


def rule_change_freeze(inp: PolicyInput) -> RuleVote:
    """Inside a change-freeze window in scope: deny or dry_run_only, as the window says."""
    windows = inp.policies.freeze_windows
    if not windows:
        return RuleVote(
            rule="change_freeze",
            decision=Decision.auto_execute,
            reason="no change-freeze windows are configured",
        )
    active = [
        w
        for w in windows
        if w.matches(workspace=inp.workspace, namespace=inp.namespace, service=inp.service) and w.active_at(inp.now)
    ]
    if not active:
        return RuleVote(
            rule="change_freeze",
            decision=Decision.auto_execute,
            reason=f"no change freeze in force at {inp.now.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        )
    decision = most_restrictive(Decision(w.decision) for w in active) or Decision.deny
    details = "; ".join(
        f"change freeze {w.name!r} ({w.describe()}){w.scope_text()}{': ' + w.reason if w.reason else ''} -> {w.decision}"
        for w in active
    )
    return RuleVote(rule="change_freeze", decision=decision, reason=f"in force: {details}")


def rule_error_budget(inp: PolicyInput) -> RuleVote:
    """The service's error budget exhausted: no autonomous actions. No SLO: abstain."""
    if inp.service is None:
        return RuleVote(
            rule="error_budget",
            decision=None,
            reason="the action names no service: error-budget rule abstains",
        )
    budget = inp.budget
    if budget is None:
        return RuleVote(
            rule="error_budget",
            decision=None,
            reason=f"no SLO for service {inp.service}: error-budget rule abstains",
        )
    spent = f"{budget.consumed_minutes:.1f} of {budget.allowed_minutes:.1f} budget minutes spent"
    if budget.exhausted:
        return RuleVote(
            rule="error_budget",
            decision=Decision.require_approval,
            reason=f"error budget of {inp.service} is exhausted ({spent}): no autonomous actions",
        )
    return RuleVote(
        rule="error_budget",
        decision=Decision.auto_execute,
        reason=f"error budget of {inp.service}: {budget.remaining_fraction:.0%} left ({spent})",
    )


def _matching_overrides(inp: PolicyInput) -> list[ActionOverride]:
    return [
        o
        for o in inp.policies.overrides
        if o.matches(workspace=inp.workspace, namespace=inp.namespace, service=inp.service)
    ]


def rule_action_overrides(inp: PolicyInput) -> RuleVote:
    """Per-action overrides in scope vote their decision (and may raise the approver role); none: abstain."""
    kind = inp.action.action
    decisions: list[Decision] = []
    details: list[str] = []
    for override in _matching_overrides(inp):
        decision = override.decision_for(kind)
        role = override.min_role.get(kind)
        if decision is None and role is None:
            continue
        said = [str(decision)] if decision is not None else []
        said += [f"approvers need role {role}"] if role is not None else []
        because = f" ({override.reason})" if override.reason else ""
        details.append(f"{override.label()}{override.scope_text()}: {', '.join(said)}{because}")
        if decision is not None:
            decisions.append(decision)
    if not details:
        return RuleVote(rule="action_overrides", decision=None, reason=f"no per-action override for {kind} applies")
    return RuleVote(
        rule="action_overrides", decision=most_restrictive(decisions), reason=f"{kind}: {'; '.join(details)}"
    )


Rule = Callable[[PolicyInput], RuleVote]

RULES: tuple[Rule, ...] = (
    rule_namespace_allowlist,
    rule_catalog,
    rule_max_scale_replicas,
    rule_dry_run,
    rule_approval_required,
    rule_autonomy,
    rule_blast_radius,
    rule_two_person,
    rule_change_freeze,
    rule_error_budget,
    rule_action_overrides,
)


def _min_role(inp: PolicyInput) -> Role:
    """The catalog's minimum role, raised (never lowered) by overrides in scope."""
    roles = [inp.spec.min_role]
    roles += [o.min_role[inp.action.action] for o in _matching_overrides(inp) if inp.action.action in o.min_role]
    return max(roles, key=lambda r: r.rank)


def evaluate(inp: PolicyInput) -> PolicyDecision:
    """Every rule votes; the most restrictive vote is the decision, with every reason."""
    votes = [rule(inp) for rule in RULES]
    decision = combine(votes)
    radius, _ = effective_blast_radius(inp)
    threshold = inp.policies.two_person.min_radius
    two_person = threshold is not None and radius.rank >= threshold.rank
    needed = (2 if two_person else 1) if decision is Decision.require_approval else 0
    return PolicyDecision(
        decision=decision,
        votes=votes,
        two_person=two_person,
        approvers_needed=needed,
        min_role=_min_role(inp),
        blast_radius=radius,
    )
