"""Service level objectives and error-budget math.

Pure (imported inside the workflow sandbox): no clock, `now` is passed in. The budget of an SLO over a
rolling window is the downtime the objective tolerates (99.9 % over 30 days = 43.2 minutes); downtime is
the union of the service's critical and high incidents inside the window, so two overlapping incidents
count once. Arithmetic on the budget is exact (fractions of microseconds), so "exactly spent" is
exhausted and floating-point rounding never decides whether autonomy is allowed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.models import Severity
from domain.settings import CONFIG_DIR, load_yaml

# Only incidents that mean "the service is down or badly degraded" spend the budget.
BUDGET_SEVERITIES = frozenset({Severity.critical, Severity.high})

_MICROS_PER_MINUTE = 60_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SloConfig(_Model):
    """One service's availability objective over a rolling window."""

    service: str = Field(min_length=1)
    workspace: str | None = Field(default=None, description="None = the service in every workspace")
    objective: float = Field(gt=0, le=100, description="percent of the window the service must be up, e.g. 99.9")
    window_days: float = Field(gt=0, description="rolling window, e.g. 28 or 30")
    description: str = ""


class SlosFile(_Model):
    """config/slos.yaml."""

    slos: list[SloConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_services(self) -> SlosFile:
        keys = [(s.workspace, s.service) for s in self.slos]
        dupes = sorted({f"{w or '*'}/{s}" for w, s in keys if keys.count((w, s)) > 1})
        if dupes:
            raise ValueError(f"more than one SLO for: {', '.join(dupes)}")
        return self

    def for_service(self, *, service: str, workspace: str) -> SloConfig | None:
        """The SLO of a service: the workspace's own entry first, then one for every workspace."""
        exact = next((s for s in self.slos if s.service == service and s.workspace == workspace), None)
        return exact or next((s for s in self.slos if s.service == service and s.workspace is None), None)


def load_slos(config_dir: Path = CONFIG_DIR) -> SlosFile:
    """Load and validate config/slos.yaml; errors name the file and the key."""
    return load_yaml(config_dir / "slos.yaml", SlosFile)


class IncidentImpact(_Model):
    """The part of an incident the budget needs: when it was open and how bad it was."""

    started_at: AwareDatetime
    resolved_at: AwareDatetime | None = None  # None = still open: it counts until `now`
    severity: Severity
    service: str | None = None  # when set, incidents of other services are ignored

    @model_validator(mode="after")
    def _ordered(self) -> IncidentImpact:
        if self.resolved_at is not None and self.resolved_at < self.started_at:
            raise ValueError("resolved_at is before started_at")
        return self


class BudgetStatus(_Model):
    """Where a service stands against its error budget at one instant."""

    allowed_minutes: float
    consumed_minutes: float
    remaining_fraction: float = Field(ge=0, le=1)  # 1 = untouched, 0 = spent
    exhausted: bool
    service: str = ""
    objective: float | None = None
    window_days: float | None = None


def budget_status(slo: SloConfig, incidents: list[IncidentImpact], now: datetime) -> BudgetStatus:
    """Error budget of `slo` at `now` from the service's incidents in the rolling window."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    # UTC throughout: aware datetimes sharing one tzinfo compare by wall clock, which is wrong across DST.
    now = now.astimezone(UTC)
    window_start = now - timedelta(days=slo.window_days)
    window_micros = _micros(now - window_start)
    # Exact: Fraction("99.9") is 999/10, so 30 days at 99.9 % allow exactly 43.2 minutes.
    allowed = Fraction(window_micros) * (100 - Fraction(str(slo.objective))) / 100
    consumed = Fraction(_downtime_micros(slo.service, incidents, window_start, now))
    if allowed > 0:
        remaining = max(Fraction(0), 1 - consumed / allowed)
    else:
        # A 100 % objective tolerates no downtime: any downtime spends it, none leaves it whole.
        remaining = Fraction(0) if consumed > 0 else Fraction(1)
    return BudgetStatus(
        allowed_minutes=float(allowed / _MICROS_PER_MINUTE),
        consumed_minutes=float(consumed / _MICROS_PER_MINUTE),
        remaining_fraction=float(remaining),
        exhausted=consumed > 0 and consumed >= allowed,
        service=slo.service,
        objective=slo.objective,
        window_days=slo.window_days,
    )


def _downtime_micros(service: str, incidents: list[IncidentImpact], start: datetime, end: datetime) -> int:
    """Length of the union of the budget-spending incidents, clipped to [start, end]."""
    spans: list[tuple[datetime, datetime]] = []
    for incident in incidents:
        if incident.severity not in BUDGET_SEVERITIES:
            continue
        if incident.service is not None and incident.service != service:
            continue
        lo = max(incident.started_at.astimezone(UTC), start)
        hi = min((incident.resolved_at or end).astimezone(UTC), end)
        if hi > lo:
            spans.append((lo, hi))
    spans.sort()
    total = 0
    current: tuple[datetime, datetime] | None = None
    for lo, hi in spans:
        if current is not None and lo <= current[1]:
            current = (current[0], max(current[1], hi))
            continue
        if current is not None:
            total += _micros(current[1] - current[0])
        current = (lo, hi)
    if current is not None:
        total += _micros(current[1] - current[0])
    return total


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
