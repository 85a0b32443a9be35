"""Error-budget math: clipping to the window, open incidents, overlaps counted once, exact thresholds, config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.models import Severity
from domain.settings import CONFIG_DIR, ConfigError, load_yaml
from domain.slo import IncidentImpact, SloConfig, SlosFile, budget_status, load_slos

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
SLO = SloConfig(service="checkout", objective=99.9, window_days=30)  # 43.2 minutes of budget


def inc(
    start_min_ago: float, end_min_ago: float | None, severity: Severity = Severity.critical, **kw
) -> IncidentImpact:
    """An incident that started `start_min_ago` minutes before NOW and resolved `end_min_ago` before it."""
    return IncidentImpact(
        started_at=NOW - timedelta(minutes=start_min_ago),
        resolved_at=None if end_min_ago is None else NOW - timedelta(minutes=end_min_ago),
        severity=severity,
        **kw,
    )


def consumed(incidents: list[IncidentImpact], slo: SloConfig = SLO, now: datetime = NOW) -> float:
    return budget_status(slo, incidents, now).consumed_minutes


def test_no_incidents_leave_the_whole_budget() -> None:
    status = budget_status(SLO, [], NOW)
    assert status.allowed_minutes == pytest.approx(43.2)
    assert (status.consumed_minutes, status.remaining_fraction, status.exhausted) == (0.0, 1.0, False)
    assert (status.service, status.objective, status.window_days) == ("checkout", 99.9, 30)


@pytest.mark.parametrize(
    ("incidents", "minutes"),
    [
        pytest.param([inc(100, 90)], 10, id="one-resolved"),
        pytest.param([inc(100, 70), inc(90, 60)], 40, id="overlap-counted-once"),
        pytest.param([inc(100, 40), inc(90, 60)], 60, id="nested"),
        pytest.param([inc(100, 90), inc(90, 80)], 20, id="touching"),
        pytest.param([inc(100, 90), inc(100, 90)], 10, id="duplicate"),
        pytest.param([inc(100, 90), inc(50, 45)], 15, id="disjoint"),
        pytest.param([inc(15, None)], 15, id="open-counts-until-now"),
        pytest.param([inc(30, 20), inc(25, None)], 30, id="open-overlapping-resolved"),
        pytest.param([inc(30 * 1440 + 60, 30 * 1440 - 5)], 5, id="clipped-at-window-start"),
        pytest.param([inc(30 * 1440 + 60, 30 * 1440 + 1)], 0, id="entirely-before-window"),
        pytest.param([inc(10, -50)], 10, id="resolved-after-now-clipped-to-now"),
        pytest.param([inc(-10, None)], 0, id="starts-after-now"),
        pytest.param([inc(60, 0, Severity.high)], 60, id="high-counts"),
        pytest.param(
            [inc(60, 0, Severity.medium), inc(60, 0, Severity.low), inc(60, 0, Severity.info)], 0, id="others-do-not"
        ),
        pytest.param([inc(60, 0, service="search"), inc(10, 0, service="checkout")], 10, id="other-service-ignored"),
        pytest.param([inc(10, 0, service=None)], 10, id="unlabelled-counts"),
    ],
)
def test_downtime_is_the_union_of_critical_and_high_incidents_inside_the_window(
    incidents: list[IncidentImpact], minutes: float
) -> None:
    assert consumed(incidents) == pytest.approx(minutes)


@pytest.mark.parametrize(
    ("objective", "budget"),
    [
        # In float arithmetic the first comes out a fraction short and the second a fraction long.
        (99.9, timedelta(minutes=43, seconds=12)),
        (99.99, timedelta(minutes=4, seconds=19.2)),
        (99.0, timedelta(minutes=432)),
    ],
)
def test_spending_exactly_the_budget_exhausts_it_and_a_microsecond_less_does_not(
    objective: float, budget: timedelta
) -> None:
    slo = SloConfig(service="checkout", objective=objective, window_days=30)
    exact = IncidentImpact(started_at=NOW - budget, resolved_at=NOW, severity="critical")
    status = budget_status(slo, [exact], NOW)
    assert status.allowed_minutes == pytest.approx(budget.total_seconds() / 60)
    assert status.exhausted is True
    assert status.remaining_fraction == 0.0
    short = exact.model_copy(update={"started_at": exact.started_at + timedelta(microseconds=1)})
    status = budget_status(slo, [short], NOW)
    assert status.exhausted is False
    assert 0 < status.remaining_fraction < 1e-6


def test_overspent_budget_clamps_remaining_at_zero() -> None:
    status = budget_status(SLO, [inc(120, 0)], NOW)
    assert status.consumed_minutes == pytest.approx(120)
    assert (status.remaining_fraction, status.exhausted) == (0.0, True)


def test_remaining_fraction_is_proportional() -> None:
    status = budget_status(SloConfig(service="checkout", objective=99.0, window_days=1), [inc(3.6, 0)], NOW)
    assert status.allowed_minutes == pytest.approx(14.4)
    assert status.remaining_fraction == pytest.approx(0.75)


def test_fractional_window() -> None:
    half_day = SloConfig(service="checkout", objective=99.0, window_days=0.5)
    assert budget_status(half_day, [], NOW).allowed_minutes == pytest.approx(7.2)
    assert consumed([inc(13 * 60, 11 * 60)], half_day) == pytest.approx(60)  # clipped at 12 h ago


def test_a_100_percent_objective_has_no_budget() -> None:
    perfect = SloConfig(service="checkout", objective=100, window_days=30)
    clean = budget_status(perfect, [], NOW)
    assert (clean.allowed_minutes, clean.remaining_fraction, clean.exhausted) == (0.0, 1.0, False)
    hit = budget_status(perfect, [inc(1, 0)], NOW)
    assert (hit.remaining_fraction, hit.exhausted) == (0.0, True)


def test_offsets_and_dst_compare_as_instants() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2025-10-26: 02:10 CEST (00:10Z) and 02:20 CET (01:20Z) share a tzinfo; wall-clock order would say 10 min.
    now = datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=berlin)
    incident = IncidentImpact(
        started_at=datetime(2025, 10, 26, 2, 10, tzinfo=berlin),
        resolved_at=datetime(2025, 10, 26, 2, 20, fold=1, tzinfo=berlin),
        severity="critical",
    )
    assert consumed([incident], now=now) == pytest.approx(70)
    plus_two = timezone(timedelta(hours=2))
    mixed = IncidentImpact(
        started_at=datetime(2025, 6, 30, 12, 0, tzinfo=plus_two),  # 10:00Z
        resolved_at=datetime(2025, 6, 30, 10, 30, tzinfo=UTC),
        severity="high",
    )
    assert consumed([mixed]) == pytest.approx(30)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        budget_status(SLO, [], datetime(2025, 6, 30, 12, 0))


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"started_at": "2025-06-30T12:00:00"}, "started_at"),
        ({"resolved_at": "2025-06-30T10:00:00Z"}, "resolved_at is before started_at"),
        ({"severity": "sev1"}, "severity"),
    ],
)
def test_incident_impact_validation(fields: dict[str, str], key: str) -> None:
    data = {"started_at": "2025-06-30T11:00:00Z", "resolved_at": None, "severity": "critical"} | fields
    with pytest.raises(ValidationError, match=key):
        IncidentImpact.model_validate(data)


@pytest.mark.parametrize("objective", [0, -1, 100.01])
def test_objective_must_be_a_percentage(objective: float) -> None:
    with pytest.raises(ValidationError, match="objective"):
        SloConfig(service="checkout", objective=objective, window_days=30)


# --- property: the union equals a brute-force minute count -------------------------------------------------

_span = st.tuples(st.integers(min_value=-30, max_value=200), st.integers(min_value=0, max_value=120), st.booleans())


@given(spans=st.lists(_span, max_size=8), window_minutes=st.integers(min_value=1, max_value=180))
def test_consumed_equals_a_minute_by_minute_count(spans: list[tuple[int, int, bool]], window_minutes: int) -> None:
    # Minutes before NOW; each span is (minutes ago it started, its length, still open).
    slo = SloConfig(service="checkout", objective=99.0, window_days=window_minutes / 1440)
    incidents = [inc(ago, None if is_open else ago - length) for ago, length, is_open in spans]
    down: set[int] = set()
    for ago, length, is_open in spans:
        end = 0 if is_open else ago - length
        # Minute m (counting back from NOW) is down if the incident covers [NOW - m - 1, NOW - m).
        down |= {m for m in range(window_minutes) if end <= m and m + 1 <= ago}
    assert consumed(incidents, slo) == pytest.approx(len(down))
    assert consumed(list(reversed(incidents)), slo) == pytest.approx(len(down))


# --- config/slos.yaml ------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_slos_file_is_valid_and_its_example_too() -> None:
    assert load_slos(CONFIG_DIR).slos == []
    text = (CONFIG_DIR / "slos.yaml").read_text(encoding="utf-8")
    example = "\n".join(
        line[2:] for line in text.splitlines()[text.splitlines().index("# slos:") :] if line[:2] == "# "
    )
    loaded = SlosFile.model_validate(yaml.safe_load(example))
    assert [(s.service, s.workspace, s.objective) for s in loaded.slos] == [
        ("checkout", None, 99.9),
        ("checkout", "staging", 99.0),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("slos:\n  - service: a\n    objective: 99.9\n    window_days: 0\n", "slos.0.window_days"),
        ("slos:\n  - service: a\n    objective: 101\n    window_days: 30\n", "slos.0.objective"),
        ("slos:\n  - service: a\n    objective: 99.9\n", "slos.0.window_days: Field required"),
        ("slos:\n  - service: a\n    objective: 99.9\n    window_days: 30\n    windw: 1\n", "slos.0.windw"),
        (
            "slos:\n  - {service: a, objective: 99, window_days: 30}\n  - {service: a, objective: 98, window_days: 7}\n",
            "more than one SLO for: */a",
        ),
        ("slos: [\n", "not valid YAML"),
    ],
)
def test_slos_file_errors_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, SlosFile)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_workspace_entry_beats_the_global_one() -> None:
    slos = SlosFile.model_validate(
        {
            "slos": [
                {"service": "checkout", "objective": 99.9, "window_days": 30},
                {"service": "checkout", "workspace": "staging", "objective": 99.0, "window_days": 7},
            ]
        }
    )
    assert slos.for_service(service="checkout", workspace="staging").objective == 99.0  # type: ignore[union-attr]
    assert slos.for_service(service="checkout", workspace="payments").objective == 99.9  # type: ignore[union-attr]
    assert slos.for_service(service="search", workspace="payments") is None
