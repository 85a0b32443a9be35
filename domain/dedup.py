"""Deduplication and grouping: pure decisions over a new alert and the workspace's open incidents.

Deduplication answers "is this the same problem as an open incident?" (then the alert joins that
incident and no new one is opened). Grouping answers "is it a related problem?" (then the new incident
becomes a child of the open one). The record_incident activity gathers the candidates and calls these
functions under a database lock, so two concurrent runs can never both become "the" incident.

Strategies, strongest first (a workspace enables any subset in config/workspaces.yaml):

| strategy       | merges when                                                                          |
|----------------|--------------------------------------------------------------------------------------|
| `fingerprint`  | the provider fingerprint equals one already attached to the open incident              |
| `fuzzy`        | same service, titles (vendor prefixes stripped) at least `fuzzy_threshold` similar     |
| `window`       | same service and severity, incident opened less than `window_seconds` ago              |
| `cross_source` | another tool reported it: same service, titles share their words (token-set similarity |
|                | at least `cross_source_threshold`), incident opened less than `cross_source_window_seconds` ago |
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz import fuzz

from domain.models import Alert, Severity


class DedupStrategy(StrEnum):
    fingerprint = "fingerprint"
    fuzzy = "fuzzy"
    window = "window"
    cross_source = "cross_source"


class DedupConfig(BaseModel):
    """A workspace's deduplication settings."""

    model_config = ConfigDict(extra="forbid")

    strategies: list[DedupStrategy] = Field(
        default_factory=lambda: [DedupStrategy.fingerprint, DedupStrategy.fuzzy, DedupStrategy.cross_source]
    )
    fuzzy_threshold: float = Field(default=90.0, ge=50, le=100)
    window_seconds: int = Field(default=300, ge=1)
    cross_source_threshold: float = Field(default=80.0, ge=50, le=100)
    cross_source_window_seconds: int = Field(default=900, ge=1)


class GroupingConfig(BaseModel):
    """A workspace's parent/child grouping settings."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    window_seconds: int = Field(default=900, ge=1)
    by: list[str] = Field(default_factory=lambda: ["service", "namespace"], min_length=1)

    def model_post_init(self, context: object) -> None:
        unknown = sorted(set(self.by) - {"service", "namespace"})
        if unknown:
            raise ValueError(f"grouping.by accepts service and namespace, not {', '.join(unknown)}")


class OpenIncident(BaseModel):
    """What dedup and grouping need to know about one open incident."""

    model_config = ConfigDict(extra="forbid")

    incident_id: int
    workflow_id: str
    title: str
    service: str | None
    namespace: str | None
    severity: Severity
    opened_at: datetime
    sources: list[str]
    fingerprints: list[str]
    parent_incident_id: int | None = None


class DedupDecision(BaseModel):
    """The open incident a new alert joins, and why."""

    model_config = ConfigDict(extra="forbid")

    incident_id: int
    workflow_id: str
    strategy: DedupStrategy
    score: float | None = None
    reason: str


class GroupDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parent_incident_id: int
    reason: str


# "[Triggered] ", "[FIRING:3] ", "[P1] [Triggered on {host:web-1}] ", "[Recovered] ", "[Alerting] " ...
_VENDOR_PREFIX = re.compile(r"^\s*(\[[^\]]{0,80}\]\s*)+")


def normalize_title(title: str) -> str:
    """Lower-case title without the bracketed status/priority prefixes vendors prepend."""
    return _VENDOR_PREFIX.sub("", title).strip().lower()


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().lower() == b.strip().lower()


def _same_service(a: str | None, b: str | None) -> bool:
    # Service names are identifiers: payments-1 and payments-2 are different services however alike
    # they look, so only the titles are compared fuzzily. Neither naming a service leaves the titles.
    return (a is None and b is None) or _same(a, b)


def find_duplicate(
    alert: Alert, candidates: Sequence[OpenIncident], config: DedupConfig, *, now: datetime
) -> DedupDecision | None:
    """The open incident this alert duplicates under the first strategy that matches, else None.

    Within a strategy the best score wins; ties go to the oldest incident, so merges converge on one.
    """
    ordered = sorted(candidates, key=lambda c: c.incident_id)
    title = normalize_title(alert.title)
    for strategy in DedupStrategy:  # fixed order: strongest evidence first, whatever the config lists
        if strategy not in config.strategies:
            continue
        best: tuple[float, OpenIncident] | None = None
        best_reason = reason = ""
        for cand in ordered:
            score: float | None = None
            if strategy is DedupStrategy.fingerprint:
                if alert.fingerprint and alert.fingerprint in cand.fingerprints:
                    score = 100.0
                    reason = f"same provider fingerprint {alert.fingerprint}"
            elif strategy is DedupStrategy.fuzzy:
                title_score = fuzz.token_sort_ratio(title, normalize_title(cand.title))
                if title_score >= config.fuzzy_threshold and _same_service(alert.service, cand.service):
                    score = title_score
                    reason = (
                        f"same service {cand.service or '(none)'}, titles {title_score:.0f}% similar "
                        f"(threshold {config.fuzzy_threshold:.0f}%)"
                    )
            elif strategy is DedupStrategy.window:
                age = now - cand.opened_at
                if (
                    _same(alert.service, cand.service)
                    and alert.severity is cand.severity
                    and age <= timedelta(seconds=config.window_seconds)
                ):
                    score = 100.0 - age.total_seconds() / config.window_seconds
                    reason = (
                        f"same service {cand.service} and severity {cand.severity.value} "
                        f"within {config.window_seconds}s"
                    )
            elif strategy is DedupStrategy.cross_source:
                age = now - cand.opened_at
                if (
                    alert.source not in cand.sources
                    and _same(alert.service, cand.service)
                    and age <= timedelta(seconds=config.cross_source_window_seconds)
                ):
                    title_score = fuzz.token_set_ratio(title, normalize_title(cand.title))
                    if title_score >= config.cross_source_threshold:
                        score = title_score
                        reason = (
                            f"{alert.source} reports what {', '.join(sorted(cand.sources))} reported: "
                            f"same service {cand.service}, titles {title_score:.0f}% alike"
                        )
            if score is not None and (best is None or score > best[0]):
                best = (score, cand)
                best_reason = reason
        if best is not None:
            score, cand = best
            return DedupDecision(
                incident_id=cand.incident_id,
                workflow_id=cand.workflow_id,
                strategy=strategy,
                score=round(score, 1),
                reason=best_reason,
            )
    return None


def pick_parent(
    alert: Alert, candidates: Sequence[OpenIncident], config: GroupingConfig, *, now: datetime
) -> GroupDecision | None:
    """The open incident a new one is grouped under (its root), by service/namespace and time proximity."""
    if not config.enabled:
        return None
    window = timedelta(seconds=config.window_seconds)
    by_id = {c.incident_id: c for c in candidates}
    for cand in sorted(candidates, key=lambda c: c.incident_id):
        if now - cand.opened_at > window:
            continue
        shared = [
            f"{key} {value}"
            for key, value, other in (
                ("service", alert.service, cand.service),
                ("namespace", alert.namespace, cand.namespace),
            )
            if key in config.by and _same(value, other)
        ]
        if not shared:
            continue
        # Children hang off the root, so a group is one level deep and its parent is the first incident.
        root, seen = cand, {cand.incident_id}
        while root.parent_incident_id in by_id and root.parent_incident_id not in seen:
            root = by_id[root.parent_incident_id]
            seen.add(root.incident_id)
        return GroupDecision(
            parent_incident_id=root.incident_id,
            reason=f"same {' and '.join(shared)} as incident #{cand.incident_id}, opened within {config.window_seconds}s",
        )
    return None
