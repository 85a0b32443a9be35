"""Deduplication strategies and parent/child grouping (pure decisions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.dedup import (
    DedupConfig,
    DedupStrategy,
    GroupingConfig,
    OpenIncident,
    find_duplicate,
    normalize_title,
    pick_parent,
)
from domain.models import Alert, Severity

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ALL = DedupConfig(strategies=list(DedupStrategy))


def alert(title: str, *, source: str = "alertmanager", service: str | None = "checkout", **kw: object) -> Alert:
    return Alert(source=source, title=title, service=service, **kw)


def incident(
    incident_id: int,
    title: str,
    *,
    service: str | None = "checkout",
    namespace: str | None = None,
    severity: Severity = Severity.medium,
    age: int = 60,
    sources: tuple[str, ...] = ("alertmanager",),
    fingerprints: tuple[str, ...] = (),
    parent: int | None = None,
) -> OpenIncident:
    return OpenIncident(
        incident_id=incident_id,
        workflow_id=f"incident-ws-{incident_id}",
        title=title,
        service=service,
        namespace=namespace,
        severity=severity,
        opened_at=NOW - timedelta(seconds=age),
        sources=list(sources),
        fingerprints=list(fingerprints),
        parent_incident_id=parent,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[Triggered] High error rate on checkout", "high error rate on checkout"),
        ("[P1] [Triggered on {host:web-1}] CPU high", "cpu high"),
        ("[FIRING:3] KubePodCrashLooping", "kubepodcrashlooping"),
        ("No prefix here", "no prefix here"),
        ("[unclosed prefix", "[unclosed prefix"),
    ],
)
def test_normalize_title_strips_vendor_prefixes(raw: str, expected: str) -> None:
    assert normalize_title(raw) == expected


def test_fingerprint_match_wins_even_with_unrelated_title() -> None:
    cands = [incident(7, "Something else entirely", fingerprints=("abc123",))]
    decision = find_duplicate(alert("Disk full", fingerprint="abc123"), cands, ALL, now=NOW)
    assert decision is not None
    assert (decision.incident_id, decision.strategy) == (7, DedupStrategy.fingerprint)


def test_fuzzy_merges_near_identical_titles_on_the_same_service() -> None:
    cands = [incident(3, "High error rate on checkout API")]
    decision = find_duplicate(alert("High error rate on checkout API!"), cands, ALL, now=NOW)
    assert decision is not None
    assert decision.strategy is DedupStrategy.fuzzy
    assert decision.score is not None
    assert decision.score >= 90
    assert decision.workflow_id == "incident-ws-3"


def test_fuzzy_does_not_merge_across_services_or_below_threshold() -> None:
    config = DedupConfig(strategies=[DedupStrategy.fuzzy])
    other_service = [incident(3, "High error rate on checkout API", service="search")]
    assert find_duplicate(alert("High error rate on checkout API"), other_service, config, now=NOW) is None
    different = [incident(4, "Disk filling up on checkout-db")]
    assert find_duplicate(alert("High error rate on checkout API"), different, config, now=NOW) is None
    one_without_service = [incident(5, "High error rate on checkout API", service=None)]
    assert find_duplicate(alert("High error rate on checkout API"), one_without_service, config, now=NOW) is None


def test_fuzzy_threshold_is_configurable() -> None:
    cands = [incident(3, "Latency high on checkout")]
    strict = DedupConfig(strategies=[DedupStrategy.fuzzy], fuzzy_threshold=99)
    loose = DedupConfig(strategies=[DedupStrategy.fuzzy], fuzzy_threshold=70)
    candidate = alert("Latency very high on checkout")
    assert find_duplicate(candidate, cands, strict, now=NOW) is None
    assert find_duplicate(candidate, cands, loose, now=NOW) is not None


def test_window_merges_same_service_and_severity_only_inside_the_window() -> None:
    config = DedupConfig(strategies=[DedupStrategy.window], window_seconds=300)
    fresh = [incident(1, "Pod restarts", severity=Severity.high, age=120)]
    stale = [incident(2, "Pod restarts", severity=Severity.high, age=301)]
    other_severity = [incident(3, "Pod restarts", severity=Severity.low, age=10)]
    new = alert("Memory pressure", severity=Severity.high)
    decision = find_duplicate(new, fresh, config, now=NOW)
    assert decision is not None
    assert decision.strategy is DedupStrategy.window
    assert find_duplicate(new, stale, config, now=NOW) is None
    assert find_duplicate(new, other_severity, config, now=NOW) is None


def test_cross_source_needs_another_tool_same_service_and_shared_words() -> None:
    config = DedupConfig(strategies=[DedupStrategy.cross_source])
    cands = [incident(9, "High error rate", sources=("alertmanager",))]
    datadog = alert("[Triggered] High error rate on checkout", source="datadog")
    decision = find_duplicate(datadog, cands, config, now=NOW)
    assert decision is not None
    assert decision.strategy is DedupStrategy.cross_source
    assert "datadog reports what alertmanager reported" in decision.reason
    # The same tool again is not cross-source evidence.
    assert find_duplicate(alert("[Triggered] High error rate on checkout"), cands, config, now=NOW) is None
    # Too old, or another service: no.
    old = [incident(9, "High error rate", sources=("alertmanager",), age=901)]
    assert find_duplicate(datadog, old, config, now=NOW) is None
    elsewhere = [incident(9, "High error rate", service="search")]
    assert find_duplicate(datadog, elsewhere, config, now=NOW) is None


def test_disabled_strategies_do_not_merge() -> None:
    cands = [incident(3, "High error rate on checkout API", fingerprints=("fp",))]
    none = DedupConfig(strategies=[])
    assert find_duplicate(alert("High error rate on checkout API", fingerprint="fp"), cands, none, now=NOW) is None


def test_best_score_wins_and_ties_go_to_the_oldest_incident() -> None:
    cands = [
        incident(12, "High error rate on checkout API"),
        incident(10, "High error rate on checkout API"),
        incident(11, "High error rate on the checkout API service"),
    ]
    decision = find_duplicate(alert("High error rate on checkout API"), cands, ALL, now=NOW)
    assert decision is not None
    assert decision.incident_id == 10


def test_default_config_leaves_the_window_strategy_off() -> None:
    assert DedupStrategy.window not in DedupConfig().strategies
    cands = [incident(1, "Pod restarts", severity=Severity.high, age=10)]
    assert find_duplicate(alert("Memory pressure", severity=Severity.high), cands, DedupConfig(), now=NOW) is None


# --- grouping -----------------------------------------------------------------------------------


def test_grouping_by_namespace_within_the_window_picks_the_root() -> None:
    cands = [
        incident(1, "DB down", service="postgres", namespace="shop", age=200),
        incident(2, "API errors", service="api", namespace="shop", age=100, parent=1),
    ]
    new = alert("Cart timeouts", service="cart", namespace="shop")
    decision = pick_parent(new, [cands[1], cands[0]], GroupingConfig(), now=NOW)
    assert decision is not None
    assert decision.parent_incident_id == 1
    assert "namespace shop" in decision.reason


def test_grouping_needs_a_shared_key_and_time_proximity() -> None:
    cands = [incident(1, "DB down", service="postgres", namespace="shop", age=2000)]
    assert pick_parent(alert("x", service="cart", namespace="shop"), cands, GroupingConfig(), now=NOW) is None
    near = [incident(1, "DB down", service="postgres", namespace="shop", age=10)]
    assert pick_parent(alert("x", service="cart", namespace="other"), near, GroupingConfig(), now=NOW) is None
    assert pick_parent(alert("x", service="cart", namespace=None), near, GroupingConfig(), now=NOW) is None


def test_grouping_can_be_restricted_or_disabled() -> None:
    near = [incident(1, "DB down", service="cart", namespace="shop", age=10)]
    new = alert("x", service="cart", namespace="shop")
    only_namespace = GroupingConfig(by=["namespace"])
    decision = pick_parent(new, near, only_namespace, now=NOW)
    assert decision is not None
    assert "service" not in decision.reason
    assert pick_parent(new, near, GroupingConfig(enabled=False), now=NOW) is None
    with pytest.raises(ValueError, match=r"grouping\.by"):
        GroupingConfig(by=["team"])


def test_grouping_survives_a_parent_cycle() -> None:
    cands = [
        incident(1, "a", namespace="shop", age=10, parent=2),
        incident(2, "b", namespace="shop", age=10, parent=1),
    ]
    decision = pick_parent(alert("c", service="x", namespace="shop"), cands, GroupingConfig(), now=NOW)
    assert decision is not None
    assert decision.parent_incident_id in (1, 2)


def test_fuzzy_never_merges_look_alike_service_names() -> None:
    # payments-1 and payments-2 are 90%+ alike as strings but are different services.
    cands = [incident(1, "Storm alert", service="storm-svc-01")]
    assert find_duplicate(alert("Storm alert", service="storm-svc-02"), cands, ALL, now=NOW) is None
    same = [incident(1, "Storm alert", service="Storm-Svc-02")]
    assert find_duplicate(alert("Storm alert", service="storm-svc-02"), same, ALL, now=NOW) is not None
