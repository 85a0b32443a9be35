"""On-call rotations, overrides and the escalation ladder (pure, time passed in)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.oncall import (
    EscalationPolicy,
    OncallFile,
    Person,
    Schedule,
    display_name,
    due_steps,
    escalation_plan,
    format_duration,
    handoff_at,
    handoff_horizon,
    local_instant,
    next_handoff,
    next_shift,
    next_wake,
    on_call,
    override_of,
    page_targets,
    parse_duration,
    parse_handoff,
    rotation_index,
    rotation_slot,
    shifts,
    steps_to_page,
    turn_first_start,
    who_is_on_call,
)
from domain.settings import CONFIG_DIR, ConfigError, load_yaml

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
D = timedelta(days=1)
W = timedelta(weeks=1)


def schedule(**kw: Any) -> Schedule:
    data: dict[str, Any] = {
        "name": "s",
        "timezone": "UTC",
        "members": ["a", "b", "c"],
        "period": "7d",
        "anchor": "2026-01-05T09:00",  # a Monday
    }
    data.update(kw)
    return Schedule.model_validate(data)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz, fold=fold)


def wall(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz).replace(tzinfo=None)


# --- durations and handoff shorthand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0m", timedelta(0)),
        ("15m", timedelta(minutes=15)),
        ("12h", timedelta(hours=12)),
        ("1d", D),
        ("2w", 2 * W),
        ("1d12h", timedelta(hours=36)),
        ("90s", timedelta(seconds=90)),
        ("PT15M", timedelta(minutes=15)),
        ("pt30m", timedelta(minutes=30)),
        ("P7D", 7 * D),
        ("P1W", W),
        ("P1DT12H", timedelta(hours=36)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "1x", "15", "m", "1h1d", "P1DT", "-1d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2M3D"])
def test_months_and_years_have_no_fixed_length(text: str) -> None:
    with pytest.raises(ValueError, match="no fixed length"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ["0m", "15m", "1w", "1d12h", "2w3d4h5m6s"]:
        assert format_duration(parse_duration(text)) == text


def test_parse_handoff() -> None:
    assert parse_handoff("daily at 09:00").model_dump() == {"weekday": None, "at": time(9)}
    weekly = parse_handoff("Weekly on  Monday at 9:30")
    assert (weekly.weekday, weekly.at, weekly.unit) == (0, time(9, 30), W)
    assert parse_handoff("weekly on sundays at 23:59").weekday == 6
    for bad in ["weekly at 09:00", "daily at 24:00", "daily 09:00", "weekly on funday at 09:00"]:
        with pytest.raises(ValueError, match="daily at HH:MM"):
            parse_handoff(bad)


# --- rotation index ---------------------------------------------------------------------------------


def test_weekly_rotation_across_week_boundaries() -> None:
    s = schedule()
    anchor = utc(2026, 1, 5, 9)
    first = on_call(s, anchor)
    assert (first.person, first.slot, first.source) == ("a", 0, "rotation")
    assert (first.starts_at, first.ends_at) == (anchor, anchor + W)
    assert on_call(s, anchor + W - timedelta(microseconds=1)).person == "a"
    assert on_call(s, anchor + W).person == "b"
    assert on_call(s, anchor + 2 * W + 3 * D).person == "c"
    assert on_call(s, anchor + 3 * W).person == "a"
    # Sunday night → Monday morning is not a handoff; Monday 09:00 is.
    assert on_call(s, utc(2026, 1, 12, 8, 59)).person == "a"
    assert on_call(s, utc(2026, 1, 12, 9, 0)).person == "b"


def test_iso_week_53_does_not_skip_or_repeat_anyone() -> None:
    assert date(2026, 12, 28).isocalendar().week == 53  # the trap: ISO week mod N repeats here
    two = schedule(timezone="Europe/Berlin", members=["a", "b"], period=None, handoff="weekly on monday at 09:00")
    week53 = on_call(two, local(BERLIN, 2026, 12, 30, 12))
    week1 = on_call(two, local(BERLIN, 2027, 1, 6, 12))
    assert week53.ends_at == week1.starts_at == local(BERLIN, 2027, 1, 4, 9)
    assert week53.slot is not None
    assert week1.slot == week53.slot + 1 == 52
    # ISO week mod 2 would give both weeks index 1 (53 % 2 == 1 % 2); the rotation alternates.
    assert (week53.person, week1.person) == ("b", "a")
    # Two whole years of Mondays: every handoff changes the person, every shift is one local week.
    weeks = shifts(two, local(BERLIN, 2026, 1, 5, 9), local(BERLIN, 2028, 1, 3, 9))
    assert len(weeks) == 104
    assert [w.slot for w in weeks] == list(range(104))
    for prev, cur in pairwise(weeks):
        assert prev.ends_at == cur.starts_at
        assert prev.person != cur.person
        assert wall(cur.starts_at, BERLIN).date() - wall(prev.starts_at, BERLIN).date() == W
    three = schedule(
        timezone="Europe/Berlin", members=["a", "b", "c"], period=None, handoff="weekly on monday at 09:00"
    )
    assert [on_call(three, local(BERLIN, *d, 12)).person for d in [(2026, 12, 21), (2026, 12, 28), (2027, 1, 4)]] == [
        "c",  # slot 50
        "a",  # slot 51, ISO week 53
        "b",  # slot 52, ISO week 1 of 2027
    ]


def test_weekly_handoff_stays_at_0900_berlin_across_dst() -> None:
    s = schedule(timezone="Europe/Berlin", period=None, handoff="weekly on monday at 09:00")
    spring = on_call(s, local(BERLIN, 2026, 3, 29, 12))  # clocks went 02:00 → 03:00 that night
    assert (spring.starts_at, spring.ends_at) == (utc(2026, 3, 23, 8), utc(2026, 3, 30, 7))
    assert spring.ends_at - spring.starts_at == 7 * D - H
    autumn = on_call(s, local(BERLIN, 2026, 10, 25, 12))  # 03:00 → 02:00
    assert (autumn.starts_at, autumn.ends_at) == (utc(2026, 10, 19, 7), utc(2026, 10, 26, 8))
    assert autumn.ends_at - autumn.starts_at == 7 * D + H
    year = shifts(s, utc(2026, 1, 1), utc(2027, 1, 1))
    assert {(wall(x.starts_at, BERLIN).weekday(), wall(x.starts_at, BERLIN).time()) for x in year} == {(0, time(9))}
    assert [x.person for x in year[:4]] == ["c", "a", "b", "c"]  # Dec 29 2025 is slot -1


def test_daily_handoff_stays_at_0900_new_york_across_dst() -> None:
    s = schedule(timezone="America/New_York", period=None, handoff="daily at 09:00", anchor="2026-01-01")
    spring = on_call(s, local(NEW_YORK, 2026, 3, 8, 3))  # DST began 02:00 → 03:00 on Mar 8
    assert (spring.starts_at, spring.ends_at) == (utc(2026, 3, 7, 14), utc(2026, 3, 8, 13))
    assert spring.ends_at - spring.starts_at == 23 * H
    autumn = on_call(s, local(NEW_YORK, 2026, 11, 1, 1, 30, fold=1))  # the second 01:30 (EST)
    assert (autumn.starts_at, autumn.ends_at) == (utc(2026, 10, 31, 13), utc(2026, 11, 1, 14))
    assert autumn.ends_at - autumn.starts_at == 25 * H
    year = shifts(s, utc(2026, 1, 1, 14), utc(2027, 1, 1, 14))
    assert len(year) == 365
    assert {wall(x.starts_at, NEW_YORK).time() for x in year} == {time(9)}
    # Day n of the year belongs to members[n mod 3], DST or not.
    assert all(x.person == "abc"[(wall(x.starts_at, NEW_YORK).date() - date(2026, 1, 1)).days % 3] for x in year)


def test_twelve_hour_rotation_hands_off_at_0900_and_2100_local() -> None:
    s = schedule(timezone="Europe/Berlin", members=["day", "night"], period="12h", anchor="2026-03-28T09:00")
    assert on_call(s, local(BERLIN, 2026, 3, 28, 12)).person == "day"
    night = on_call(s, local(BERLIN, 2026, 3, 28, 22))
    assert night.person == "night"
    assert (night.starts_at, night.ends_at) == (utc(2026, 3, 28, 20), utc(2026, 3, 29, 7))  # 11 hours
    assert on_call(s, local(BERLIN, 2026, 3, 29, 10)).person == "day"
    assert on_call(s, local(BERLIN, 2026, 3, 29, 22)).person == "night"
    year = shifts(s, utc(2026, 1, 1), utc(2027, 1, 1))
    assert {(x.person, wall(x.starts_at, BERLIN).time()) for x in year} == {("day", time(9)), ("night", time(21))}


def test_day_multiple_in_hours_or_iso_is_the_same_rotation() -> None:
    base = schedule(timezone="Europe/Berlin", period="1d")
    for period in ["24h", "P1D", "PT24H"]:
        other = schedule(timezone="Europe/Berlin", period=period)
        for t in [utc(2026, 3, 29, 7, 30), utc(2026, 10, 25, 7, 30), utc(2026, 7, 1)]:
            assert on_call(other, t) == on_call(base, t)


def test_daily_rotation_in_utc_is_plain_floor_division() -> None:
    s = schedule(period="1d", members=["a", "b", "c", "d"])
    anchor = utc(2026, 1, 5, 9)
    for days in range(-10, 40):
        t = anchor + days * D + 5 * H
        assert rotation_slot(s, t) == days
        assert rotation_index(s, t) == days % 4
        assert on_call(s, t).person == "abcd"[days % 4]


def test_anchor_in_the_future_uses_floor_division() -> None:
    s = schedule(anchor="2026-06-01T09:00")  # Monday, a's first shift
    before = on_call(s, utc(2026, 5, 31, 23))
    assert (before.slot, before.person) == (-1, "c")
    assert (before.starts_at, before.ends_at) == (utc(2026, 5, 25, 9), utc(2026, 6, 1, 9))
    assert on_call(s, utc(2026, 5, 25, 8, 59)).person == "b"  # slot -2
    assert on_call(s, utc(2026, 5, 11, 9)).person == "a"  # slot -3
    assert on_call(s, utc(2026, 6, 1, 8, 59, 59)).person == "c"
    # Truncating instead of flooring would put slot -1 and slot 0 on the same person.
    assert on_call(s, utc(2026, 6, 1, 9)).person == "a"
    berlin = schedule(timezone="Europe/Berlin", period=None, handoff="weekly on monday at 09:00", anchor="2026-11-02")
    summer = on_call(berlin, utc(2026, 7, 15))
    assert wall(summer.starts_at, BERLIN) == datetime(2026, 7, 13, 9)
    assert summer.slot == -16


def test_handoff_in_a_spring_forward_gap_happens_when_the_clocks_jump() -> None:
    s = schedule(timezone="Europe/Berlin", period="1d", anchor="2026-03-20T02:30")
    # 02:30 does not exist on Mar 29: the handoff is at 03:00 CEST = 01:00Z.
    assert handoff_at(s, 9) == utc(2026, 3, 29, 1)
    before = on_call(s, utc(2026, 3, 29, 0, 59))
    assert (before.slot, before.starts_at, before.ends_at) == (8, utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1))
    after = next_shift(s, utc(2026, 3, 29, 0, 59))
    assert (after.slot, after.starts_at, after.ends_at) == (9, utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30))
    assert local_instant(datetime(2026, 3, 29, 2, 59), BERLIN) == utc(2026, 3, 29, 1)


def test_handoff_in_a_repeated_hour_happens_at_its_first_occurrence() -> None:
    s = schedule(timezone="Europe/Berlin", period="1d", anchor="2026-10-20T02:30")
    assert handoff_at(s, 5) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not the later 02:30 CET
    shift = on_call(s, utc(2026, 10, 25, 1, 45))  # 02:45 CET: the clock reads a time it showed before
    assert (shift.slot, shift.starts_at, shift.ends_at) == (5, utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30))
    assert shift.ends_at - shift.starts_at == 25 * H


def test_sub_hour_turns_never_go_backwards_across_dst() -> None:
    spring = schedule(timezone="Europe/Berlin", period="30m", anchor="2026-03-29T00:00")
    # 02:00 and 02:30 do not exist; their handoffs coincide with 03:00 CEST, so slots 4 and 5 are empty.
    assert handoff_at(spring, 4) == handoff_at(spring, 5) == handoff_at(spring, 6) == utc(2026, 3, 29, 1)
    night = shifts(spring, utc(2026, 3, 28, 23), utc(2026, 3, 29, 2))
    assert [x.slot for x in night] == [0, 1, 2, 3, 6, 7]
    assert all(x.ends_at - x.starts_at == timedelta(minutes=30) for x in night)
    autumn = schedule(timezone="Europe/Berlin", period="30m", anchor="2026-10-25T00:00")
    # 02:15 CET (the second pass) still belongs to the turn that began at the first 02:30.
    late = on_call(autumn, utc(2026, 10, 25, 1, 15))
    assert (late.slot, late.starts_at, late.ends_at) == (5, utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2))
    slots = [x.slot or 0 for x in shifts(autumn, utc(2026, 10, 24, 22), utc(2026, 10, 25, 4))]
    assert slots == sorted(slots)
    assert len(slots) == len(set(slots))


# --- overrides --------------------------------------------------------------------------------------


def test_partial_shift_override_splits_the_turn() -> None:
    s = schedule(overrides=[{"who": "x", "from": "2026-01-07T12:00", "to": "2026-01-08T12:00"}])
    week = shifts(s, utc(2026, 1, 5, 9), utc(2026, 1, 12, 9))
    assert [(x.person, x.source, x.slot, x.starts_at, x.ends_at) for x in week] == [
        ("a", "rotation", 0, utc(2026, 1, 5, 9), utc(2026, 1, 7, 12)),
        ("x", "override", None, utc(2026, 1, 7, 12), utc(2026, 1, 8, 12)),
        ("a", "rotation", 0, utc(2026, 1, 8, 12), utc(2026, 1, 12, 9)),
    ]
    assert on_call(s, utc(2026, 1, 7, 11, 59)).person == "a"
    assert on_call(s, utc(2026, 1, 7, 12)).person == "x"
    assert on_call(s, utc(2026, 1, 8, 12)).person == "a"


def test_override_spanning_a_handoff() -> None:
    s = schedule(overrides=[{"who": "x", "from": "2026-01-11T18:00", "to": "2026-01-13T09:00"}])
    assert on_call(s, utc(2026, 1, 11, 17)).person == "a"
    covering = on_call(s, utc(2026, 1, 12, 10))  # after Monday's handoff: b's turn, but x covers
    assert (covering.person, covering.starts_at, covering.ends_at) == ("x", utc(2026, 1, 11, 18), utc(2026, 1, 13, 9))
    resumed = on_call(s, utc(2026, 1, 13, 9))
    assert (resumed.person, resumed.slot, resumed.starts_at, resumed.ends_at) == (
        "b",
        1,
        utc(2026, 1, 13, 9),
        utc(2026, 1, 19, 9),
    )
    clipped = on_call(s, utc(2026, 1, 11, 17))
    assert (clipped.starts_at, clipped.ends_at) == (utc(2026, 1, 5, 9), utc(2026, 1, 11, 18))


def test_back_to_back_overrides() -> None:
    s = schedule(
        overrides=[
            {"who": "y", "from": "2026-01-08T09:00", "to": "2026-01-09T09:00"},
            {"who": "x", "from": "2026-01-07T09:00", "to": "2026-01-08T09:00"},
        ]
    )
    assert [o.who for o in s.overrides] == ["x", "y"]  # kept in time order
    span = shifts(s, utc(2026, 1, 6), utc(2026, 1, 10))
    assert [(x.person, x.source) for x in span] == [
        ("a", "rotation"),
        ("x", "override"),
        ("y", "override"),
        ("a", "rotation"),
    ]
    assert all(p.ends_at == n.starts_at for p, n in pairwise(span))
    assert on_call(s, utc(2026, 1, 8, 9)).person == "y"
    assert next_shift(s, utc(2026, 1, 7, 10)).person == "y"


def test_override_times_are_local_unless_they_carry_an_offset() -> None:
    s = schedule(
        timezone="Europe/Berlin",
        overrides=[
            {"who": "x", "from": "2026-03-10T09:00", "to": "2026-03-10T18:00"},
            {"who": "y", "from": "2026-03-11T09:00Z", "to": "2026-03-11T18:00+01:00"},
        ],
    )
    assert (s.overrides[0].start, s.overrides[0].end) == (utc(2026, 3, 10, 8), utc(2026, 3, 10, 17))
    assert (s.overrides[1].start, s.overrides[1].end) == (utc(2026, 3, 11, 9), utc(2026, 3, 11, 17))
    assert on_call(s, utc(2026, 3, 10, 7, 59)).person != "x"
    assert on_call(s, utc(2026, 3, 10, 8)).person == "x"


# --- who is on call, next shift, next handoff -------------------------------------------------------

CONFIG = """
people: {a: {}, b: {}, c: {}, m1: {}, m2: {}, x: {}}
schedules:
  - {name: primary, timezone: Europe/Berlin, handoff: weekly on monday at 09:00, anchor: 2026-01-05,
     members: [a, b, c], overrides: [{who: x, from: "2026-02-01T18:00", to: "2026-02-03T09:00"}]}
  - {name: secondary, timezone: Europe/Berlin, handoff: weekly on monday at 09:00, anchor: 2026-01-05,
     members: [c, a, b]}
  - {name: managers, timezone: America/New_York, handoff: daily at 10:00, anchor: 2026-01-01, members: [m1, m2]}
escalation_policies:
  - name: sre
    levels:
      - {after: 0m, schedule: primary}
      - {after: 15m, schedule: secondary}
      - {after: 30m, schedule: managers}
  - name: vip
    levels:
      - {after: 0m, users: [m1, m2]}
  - name: ws-team
    levels:
      - {after: 5m, schedule: secondary}
routing:
  default: sre
  rules:
    - {workspace: team, policy: ws-team}
    - {service: checkout, policy: vip}
    - {workspace: team, service: checkout, policy: sre}
"""


@pytest.fixture
def config() -> OncallFile:
    return OncallFile.model_validate(yaml.safe_load(CONFIG))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 1, 5, 7, 59), {"primary": "c", "secondary": "b", "managers": "m2"}),  # slot -1; NY day 3
        (utc(2026, 1, 5, 8, 0), {"primary": "a", "secondary": "c", "managers": "m2"}),
        (utc(2026, 1, 5, 15, 0), {"primary": "a", "secondary": "c", "managers": "m1"}),  # 10:00 New York
        (utc(2026, 2, 2, 12, 0), {"primary": "x", "secondary": "a", "managers": "m2"}),  # override
        (utc(2026, 2, 3, 8, 0), {"primary": "b", "secondary": "a", "managers": "m1"}),  # override over
    ],
)
def test_who_is_on_call_at(config: OncallFile, at: datetime, expected: dict[str, str]) -> None:
    assert {x.schedule: x.person for x in who_is_on_call(config, at)} == expected
    assert [x.schedule for x in who_is_on_call(config, at, schedules=["managers"])] == ["managers"]


def test_next_shift_and_next_handoff(config: OncallFile) -> None:
    primary = config.schedule("primary")
    now = utc(2026, 1, 28, 12)
    assert on_call(primary, now).person == "a"
    upcoming = next_shift(primary, now)
    assert (upcoming.person, upcoming.source, upcoming.starts_at) == ("x", "override", utc(2026, 2, 1, 17))
    handoff = next_handoff(primary, now)
    assert handoff is not None
    assert (handoff.at, handoff.outgoing.person, handoff.incoming.person) == (utc(2026, 2, 1, 17), "a", "x")
    # Same person twice in a row is no handoff; a single-member rotation has none at all.
    doubled = schedule(members=["a", "a", "b"])
    change = next_handoff(doubled, utc(2026, 1, 6))
    assert change is not None
    assert (change.at, change.incoming.person) == (utc(2026, 1, 19, 9), "b")
    assert next_handoff(schedule(members=["solo"]), utc(2026, 1, 6)) is None
    assert next_handoff(doubled, utc(2026, 1, 6), horizon=timedelta(days=7)) is None


def test_shifts_window_validation_and_naive_times_are_refused() -> None:
    s = schedule()
    with pytest.raises(ValueError, match="not after start"):
        shifts(s, utc(2026, 1, 2), utc(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(s, datetime(2026, 1, 1))
    overlapping = shifts(s, utc(2026, 1, 7), utc(2026, 1, 13))  # whole shifts, not clipped to the window
    assert [(x.starts_at, x.ends_at) for x in overlapping] == [
        (utc(2026, 1, 5, 9), utc(2026, 1, 12, 9)),
        (utc(2026, 1, 12, 9), utc(2026, 1, 19, 9)),
    ]


# --- escalation -------------------------------------------------------------------------------------

OPENED = utc(2026, 1, 7, 10)


def test_escalation_plan_times(config: OncallFile) -> None:
    plan = escalation_plan(config.policy("sre"), OPENED)
    assert [(s.label, s.at, s.schedule) for s in plan] == [
        ("L1", OPENED, "primary"),
        ("L2", OPENED + timedelta(minutes=15), "secondary"),
        ("L3", OPENED + timedelta(minutes=30), "managers"),
    ]
    assert escalation_plan(config.policy("sre"), local(BERLIN, 2026, 1, 7, 11))[0].at == OPENED


def test_due_steps_without_acknowledgement(config: OncallFile) -> None:
    plan = escalation_plan(config.policy("sre"), OPENED)
    assert [s.level for s in due_steps(plan, OPENED)] == [1]
    assert [s.level for s in due_steps(plan, OPENED + timedelta(minutes=14, seconds=59))] == [1]
    assert [s.level for s in due_steps(plan, OPENED + timedelta(minutes=15))] == [1, 2]
    assert [s.level for s in due_steps(plan, OPENED + H)] == [1, 2, 3]


def test_acknowledgement_or_verdicts_stop_the_ladder(config: OncallFile) -> None:
    plan = escalation_plan(config.policy("sre"), OPENED)
    later = OPENED + H
    acked = OPENED + timedelta(minutes=10)
    assert [s.level for s in due_steps(plan, later, acknowledged_at=acked)] == [1]
    # Approval verdicts after L2 was paged: L3 never comes.
    verdicts = OPENED + timedelta(minutes=20)
    assert [s.level for s in due_steps(plan, later, all_verdicts_at=verdicts)] == [1, 2]
    # The earlier of the two stops wins; a stop exactly at a level's time pre-empts it.
    assert [s.level for s in due_steps(plan, later, acknowledged_at=verdicts, all_verdicts_at=acked)] == [1]
    assert [s.level for s in due_steps(plan, later, acknowledged_at=OPENED + timedelta(minutes=15))] == [1]


def test_next_wake_and_steps_to_page(config: OncallFile) -> None:
    plan = escalation_plan(config.policy("sre"), OPENED)
    assert next_wake(plan, set(), OPENED) == OPENED
    assert [s.level for s in steps_to_page(plan, set(), OPENED)] == [1]
    assert next_wake(plan, {1}, OPENED + timedelta(seconds=1)) == OPENED + timedelta(minutes=15)
    assert steps_to_page(plan, {1}, OPENED + timedelta(minutes=5)) == []
    # A worker that woke late pages every overdue level at once and wakes again at once.
    late = OPENED + timedelta(minutes=40)
    assert [s.level for s in steps_to_page(plan, {1}, late)] == [2, 3]
    assert next_wake(plan, {1}, late) == late
    assert next_wake(plan, {1, 2}, OPENED + timedelta(minutes=16)) == OPENED + timedelta(minutes=30)
    assert next_wake(plan, {1, 2, 3}, late) is None
    assert next_wake(plan, {1}, OPENED + timedelta(minutes=5), acknowledged_at=OPENED + timedelta(minutes=4)) is None
    assert steps_to_page(plan, {1}, late, acknowledged_at=OPENED + timedelta(minutes=4)) == []
    assert (
        next_wake(plan, {1, 2}, OPENED + timedelta(minutes=20), all_verdicts_at=OPENED + timedelta(minutes=18)) is None
    )


def test_page_targets_resolve_each_level(config: OncallFile) -> None:
    at = utc(2026, 2, 2, 12)
    targets = page_targets(config.policy("sre"), config, at)
    assert [(t.level, t.schedule, t.people) for t in targets] == [
        (1, "primary", ["x"]),
        (2, "secondary", ["a"]),
        (3, "managers", ["m2"]),
    ]
    assert targets[0].shift is not None
    assert targets[0].shift.source == "override"
    assert [(t.schedule, t.people, t.shift) for t in page_targets(config.policy("vip"), config, at)] == [
        (None, ["m1", "m2"], None)
    ]


@pytest.mark.parametrize(
    ("workspace", "service", "policy"),
    [
        ("default", None, "sre"),
        ("default", "api", "sre"),
        ("default", "checkout", "vip"),
        ("team", "api", "ws-team"),
        ("team", None, "ws-team"),
        ("team", "checkout", "sre"),  # workspace + service beats either alone
    ],
)
def test_routing_picks_the_most_specific_rule(
    config: OncallFile, workspace: str, service: str | None, policy: str
) -> None:
    chosen = config.policy_for(workspace=workspace, service=service)
    assert chosen is not None
    assert chosen.name == policy


def test_single_policy_is_the_default_and_none_without_policies() -> None:
    one = OncallFile.model_validate(
        {
            "schedules": [{"name": "p", "timezone": "UTC", "period": "1d", "anchor": "2026-01-01", "members": ["a"]}],
            "escalation_policies": [{"name": "only", "levels": [{"after": "0m", "schedule": "p"}]}],
        }
    )
    chosen = one.policy_for(workspace="w", service=None)
    assert chosen is not None
    assert chosen.name == "only"
    assert OncallFile().policy_for(workspace="w", service=None) is None


# --- the shipped example and validation errors -------------------------------------------------------


def test_shipped_config_is_valid_and_behaves_as_documented() -> None:
    cfg = load_yaml(CONFIG_DIR / "oncall.yaml", OncallFile)
    sre = cfg.policy("sre")
    assert [(level.schedule, level.after) for level in sre.levels] == [
        ("sre-primary", timedelta(0)),
        ("sre-secondary", timedelta(minutes=15)),
        ("eng-managers", timedelta(minutes=30)),
    ]
    primary = cfg.schedule("sre-primary")
    assert (primary.timezone, primary.period, primary.anchor_local) == ("Europe/Berlin", W, datetime(2026, 1, 5, 9))
    # Nobody is primary and secondary at once, at any Monday handoff of the year.
    for week in shifts(cfg.schedule("sre-secondary"), utc(2026, 1, 5, 8), utc(2027, 1, 4)):
        assert (
            on_call(primary, week.starts_at).person != week.person
            or on_call(primary, week.starts_at).source == "override"
        )
    # The documented override: erin covers across the Monday 09:00 handoff until Tuesday 09:00.
    assert on_call(primary, local(BERLIN, 2026, 4, 6, 12)).person == "erin"
    assert on_call(primary, local(BERLIN, 2026, 4, 7, 9)).source == "rotation"
    managers = shifts(cfg.schedule("eng-managers"), utc(2026, 1, 5, 15), utc(2026, 12, 31))
    assert {wall(x.ends_at, NEW_YORK) - wall(x.starts_at, NEW_YORK) for x in managers} == {2 * W}
    payments = cfg.policy_for(workspace="default", service="payments")
    assert payments is not None
    assert payments.name == "payments"


def test_config_survives_a_json_round_trip() -> None:
    """An activity loads the file and hands it to the workflow through the pydantic data converter."""
    cfg = load_yaml(CONFIG_DIR / "oncall.yaml", OncallFile)
    again = OncallFile.model_validate_json(cfg.model_dump_json())
    assert again == cfg
    at = utc(2026, 4, 6, 12)
    assert who_is_on_call(again, at) == who_is_on_call(cfg, at)


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "oncall.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def base_file() -> dict[str, Any]:
    return {
        "schedules": [
            {
                "name": "p",
                "timezone": "Europe/Berlin",
                "handoff": "weekly on monday at 09:00",
                "anchor": "2026-01-05",
                "members": ["a", "b"],
            }
        ],
        "escalation_policies": [{"name": "sre", "levels": [{"after": "0m", "schedule": "p"}]}],
    }


def broken(change: Any) -> dict[str, Any]:
    data = base_file()
    change(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "key", "message"),
    [
        (
            lambda d: d["escalation_policies"][0]["levels"].append({"after": "15m", "schedule": "q"}),
            "escalation_policies",
            "policy sre L2: unknown schedule 'q'; known: p",
        ),
        (lambda d: d["schedules"][0].update(members=[]), "schedules.0.members", "at least 1 item"),
        (lambda d: d["schedules"][0].update(members=["a", " "]), "schedules.0.members", "member 1 is blank"),
        (lambda d: d["schedules"][0].update(handoff=None, period="0m"), "schedules.0.period", "at least 1m"),
        (lambda d: d["schedules"][0].update(handoff=None, period="-7d"), "schedules.0.period", "not a duration"),
        (lambda d: d["schedules"][0].update(handoff=None, period=7), "schedules.0.period", "has no unit"),
        (lambda d: d["schedules"][0].update(handoff=None, period="P1M"), "schedules.0.period", "no fixed length"),
        (lambda d: d["schedules"][0].update(handoff=None), "schedules.0", "set `period`"),
        (
            lambda d: d["schedules"][0].update(timezone="Europe/Berln"),
            "schedules.0.timezone",
            "unknown time zone 'Europe/Berln'",
        ),
        (lambda d: d["schedules"][0].update(handoff="weekly at 9"), "schedules.0.handoff", "weekly on <weekday>"),
        (lambda d: d["schedules"][0].update(anchor="2026-01-06"), "schedules.0", "is a tuesday but handoff"),
        (lambda d: d["schedules"][0].update(anchor="2026-01-05T10:00"), "schedules.0", "is at 10:00 local time"),
        (lambda d: d["schedules"][0].update(period="10d"), "schedules.0", "not a whole number of weeks"),
        (
            lambda d: d["schedules"][0].update(
                overrides=[
                    {"who": "a", "from": "2026-02-01T09:00", "to": "2026-02-03T09:00"},
                    {"who": "b", "from": "2026-02-02T09:00", "to": "2026-02-04T09:00"},
                ]
            ),
            "schedules.0.overrides",
            "overrides 0 (a 2026-02-01T08:00:00+00:00",
        ),
        (
            lambda d: d["schedules"][0].update(
                overrides=[{"who": "a", "from": "2026-02-02T09:00", "to": "2026-02-02T09:00"}]
            ),
            "schedules.0.overrides",
            "is not after `from`",
        ),
        (lambda d: d["schedules"].append(dict(d["schedules"][0])), "schedules", "duplicate schedule names: p"),
        (
            lambda d: d["escalation_policies"][0]["levels"].append({"after": "15m", "schedule": "p", "users": ["a"]}),
            "escalation_policies.0.levels.1",
            "exactly one",
        ),
        (
            lambda d: d["escalation_policies"][0]["levels"].insert(0, {"after": "5m", "schedule": "p"}),
            "escalation_policies.0.levels",
            "L2 (after 0m) would page before L1 (after 5m)",
        ),
        (lambda d: d["escalation_policies"][0]["levels"].clear(), "escalation_policies.0.levels", "at least 1 item"),
        (lambda d: d.update(people={"a": {}}), "schedules", "schedule p: 'b' is not in `people`"),
        (
            lambda d: d.update(routing={"rules": [{"service": "x", "policy": "nope"}]}),
            "(top level)",
            "routing.rules.0.policy: unknown escalation policy 'nope'",
        ),
        (
            lambda d: d.update(routing={"rules": [{"policy": "sre"}]}),
            "routing.rules.0",
            "needs a `workspace`, a `service` or both",
        ),
        (
            lambda d: d["escalation_policies"].append({"name": "b", "levels": [{"after": "0m", "users": ["a"]}]}),
            "(top level)",
            "routing.default: name the default",
        ),
        (lambda d: d.update(typo=1), "typo", "Extra inputs are not permitted"),
    ],
)
def test_validation_errors_name_the_key(tmp_path: Path, mutate: Any, key: str, message: str) -> None:
    path = write(tmp_path, broken(mutate))
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, OncallFile)
    text = str(caught.value)
    assert f"{path}: {key}: " in text
    assert message in text


def test_base_file_is_valid(tmp_path: Path) -> None:
    loaded = load_yaml(write(tmp_path, base_file()), OncallFile)
    assert loaded.schedule("p").period == W
    with pytest.raises(KeyError):
        loaded.schedule("q")
    with pytest.raises(KeyError):
        loaded.policy("q")


def test_back_to_back_overrides_are_not_an_overlap(tmp_path: Path) -> None:
    data = base_file()
    data["schedules"][0]["overrides"] = [
        {"who": "a", "from": "2026-02-01T09:00", "to": "2026-02-02T09:00"},
        {"who": "b", "from": "2026-02-02T08:00Z", "to": "2026-02-03T09:00"},  # 08:00Z = 09:00 Berlin
    ]
    assert len(load_yaml(write(tmp_path, data), OncallFile).schedule("p").overrides) == 2


def test_escalation_policy_model_accepts_users_only() -> None:
    policy = EscalationPolicy.model_validate({"name": "x", "levels": [{"after": "PT5M", "users": ["a"]}]})
    assert escalation_plan(policy, OPENED)[0].at == OPENED + timedelta(minutes=5)


# --- properties -------------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "Pacific/Apia",
    "Asia/Kolkata",
]
PERIODS = ["30m", "1h", "5h", "12h", "1d", "1d12h", "7d", "14d"]
instants = st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2055, 1, 1), timezones=st.just(UTC))


@st.composite
def schedules(draw: st.DrawFn, zones: list[str] = ZONES) -> Schedule:
    members = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=5))
    anchor = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2050, 1, 1)))
    overrides = []
    start = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2050, 1, 1), timezones=st.just(UTC)))
    for _ in range(draw(st.integers(0, 3))):
        start += timedelta(minutes=draw(st.integers(0, 20000)))
        end = start + timedelta(minutes=draw(st.integers(1, 20000)))
        overrides.append({"who": "o", "from": start.isoformat(), "to": end.isoformat()})
        start = end
    return Schedule.model_validate(
        {
            "name": "prop",
            "timezone": draw(st.sampled_from(zones)),
            "period": draw(st.sampled_from(PERIODS)),
            "anchor": anchor.isoformat(),
            "members": members,
            "overrides": overrides,
        }
    )


@settings(max_examples=300, deadline=None)
@given(s=schedules(), t=instants)
def test_property_the_shift_at_t_contains_t_and_is_someone_on_the_schedule(s: Schedule, t: datetime) -> None:
    shift = on_call(s, t)
    assert shift.starts_at <= t < shift.ends_at
    if shift.source == "rotation":
        assert shift.person in s.members
        assert shift.person == s.members[rotation_index(s, t)]
    else:
        assert shift.person == "o"
    # Shifts tile time: the one at its start and just before its end is itself; the next starts at its end.
    assert on_call(s, shift.starts_at) == shift
    assert on_call(s, shift.ends_at - timedelta(microseconds=1)) == shift
    following = next_shift(s, t)
    assert following.starts_at == shift.ends_at
    assert following != shift


@settings(max_examples=200, deadline=None)
@given(
    members=st.integers(1, 6),
    period_minutes=st.integers(1, 60 * 24 * 30),
    anchor=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2050, 1, 1)),
    t=instants,
)
def test_property_utc_index_is_floor_of_elapsed_over_period(
    members: int, period_minutes: int, anchor: datetime, t: datetime
) -> None:
    period = timedelta(minutes=period_minutes)
    s = schedule(members=[str(i) for i in range(members)], period=format_duration(period), anchor=anchor.isoformat())
    assert rotation_slot(s, t) == (t - anchor.replace(tzinfo=UTC)) // period
    assert rotation_index(s, t) == ((t - anchor.replace(tzinfo=UTC)) // period) % members


@settings(max_examples=200, deadline=None)
@given(
    zone_name=st.sampled_from(
        ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Europe/London"]
    ),
    days=st.sampled_from([1, 2, 7, 14]),
    hour=st.integers(6, 22),
    minute=st.integers(0, 59),
    anchor_day=st.dates(min_value=date(2000, 1, 1), max_value=date(2050, 1, 1)),
    t=instants,
)
def test_property_day_multiple_handoffs_keep_their_local_time(
    zone_name: str, days: int, hour: int, minute: int, anchor_day: date, t: datetime
) -> None:
    s = schedule(
        timezone=zone_name, period=f"{days}d", anchor=datetime.combine(anchor_day, time(hour, minute)).isoformat()
    )
    shift = on_call(s, t)
    tz = ZoneInfo(zone_name)
    start, end = wall(shift.starts_at, tz), wall(shift.ends_at, tz)
    assert start.time() == end.time() == time(hour, minute)
    assert end - start == timedelta(days=days)
    assert (start.date() - anchor_day).days % days == 0


def _transitions(zone_name: str, year: int) -> list[datetime]:
    """The instants (to the hour) at which the zone's UTC offset changes during `year`."""
    tz = ZoneInfo(zone_name)
    out, t = [], datetime(year, 1, 1, tzinfo=UTC)
    while t.year == year:
        if t.astimezone(tz).utcoffset() != (t + H).astimezone(tz).utcoffset():
            out.append(t + H)
        t += H
    return out


NEAR_DST = [(z, t) for z in ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"] for t in _transitions(z, 2026)]


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(NEAR_DST),
    offset=st.integers(-180 * 60, 180 * 60),
    period=st.sampled_from(["20m", "30m", "45m", "1h", "90m", "12h", "1d"]),
    anchor_minutes=st.integers(0, 24 * 60 - 1),
    members=st.integers(1, 4),
)
def test_property_around_dst_changes_turns_tile_time_and_never_go_back(
    where: tuple[str, datetime], offset: int, period: str, anchor_minutes: int, members: int
) -> None:
    zone_name, change = where
    anchor = datetime(2026, 1, 1) + timedelta(minutes=anchor_minutes)
    s = schedule(timezone=zone_name, period=period, anchor=anchor.isoformat(), members=[str(i) for i in range(members)])
    t = change + timedelta(seconds=offset)
    shift = on_call(s, t)
    assert shift.starts_at <= t < shift.ends_at
    assert on_call(s, shift.starts_at) == shift
    assert on_call(s, shift.ends_at - timedelta(microseconds=1)) == shift
    later = on_call(s, t + timedelta(minutes=1))
    assert shift.slot is not None
    assert later.slot is not None
    assert later.slot >= shift.slot  # the rotation never steps back, even while the clock repeats an hour


# --- issue 6: week boundaries, time zones and overrides, as the on-call API shows them -----------------

SYDNEY = ZoneInfo("Australia/Sydney")


def weekly(zone_name: str, **kw: Any) -> Schedule:
    """Weekly Monday 09:00 local handoffs; a, b, c from Monday 2026-01-05 (slot k belongs to "abc"[k % 3])."""
    return schedule(timezone=zone_name, period=None, handoff="weekly on monday at 09:00", anchor="2026-01-05", **kw)


@pytest.mark.parametrize("zone_name", ["Europe/Berlin", "America/New_York", "Australia/Sydney"])
@pytest.mark.parametrize(
    ("sunday", "before", "after"),
    [
        (date(2026, 1, 11), "a", "b"),  # slot 0 → 1
        (date(2027, 1, 3), "a", "b"),  # Sunday of ISO week 53 of 2026 → Monday of week 1 of 2027: slot 51 → 52
    ],
)
def test_sunday_night_is_not_a_handoff_monday_0900_is(zone_name: str, sunday: date, before: str, after: str) -> None:
    tz = ZoneInfo(zone_name)
    s = weekly(zone_name)
    monday = sunday + D
    sunday_2359 = datetime.combine(sunday, time(23, 59), tzinfo=tz)
    midnight = datetime.combine(monday, time(0), tzinfo=tz)  # where an ISO week begins
    monday_0859 = datetime.combine(monday, time(8, 59, 59, 999999), tzinfo=tz)
    monday_0900 = datetime.combine(monday, time(9), tzinfo=tz)
    late = on_call(s, sunday_2359)
    assert late.person == before
    assert on_call(s, midnight) == late
    assert on_call(s, monday_0859) == late
    assert late.ends_at == monday_0900.astimezone(UTC)
    fresh = on_call(s, monday_0900)
    assert fresh.person == after
    assert late.slot is not None
    assert fresh.slot == late.slot + 1
    assert fresh.starts_at == monday_0900.astimezone(UTC)
    assert who_is_on_call(OncallFile(schedules=[s]), sunday_2359) == [late]


def test_the_week_53_handoff_in_utc_instants() -> None:
    # 09:00 on Monday 2027-01-04 is 08:00Z in Berlin (CET) and 14:00Z in New York (EST), 22:00Z on the
    # Sunday in Sydney (AEDT, +11): the UTC date of the handoff is not the local one.
    for zone_name, instant in [
        ("Europe/Berlin", utc(2027, 1, 4, 8)),
        ("America/New_York", utc(2027, 1, 4, 14)),
        ("Australia/Sydney", utc(2027, 1, 3, 22)),
    ]:
        s = weekly(zone_name)
        assert handoff_at(s, 52) == instant
        assert (on_call(s, instant - timedelta(seconds=1)).person, on_call(s, instant).person) == ("a", "b")
        assert date(2026, 12, 28).isocalendar()[:2] == (2026, 53)


@pytest.mark.parametrize(
    ("zone_name", "inside", "starts", "ends", "length"),
    [
        # Northern hemisphere: clocks go forward in March, back in October/November.
        ("Europe/Berlin", (2026, 3, 29, 12), utc(2026, 3, 23, 8), utc(2026, 3, 30, 7), 7 * D - H),
        ("Europe/Berlin", (2026, 10, 25, 12), utc(2026, 10, 19, 7), utc(2026, 10, 26, 8), 7 * D + H),
        ("America/New_York", (2026, 3, 8, 12), utc(2026, 3, 2, 14), utc(2026, 3, 9, 13), 7 * D - H),
        ("America/New_York", (2026, 11, 1, 12), utc(2026, 10, 26, 13), utc(2026, 11, 2, 14), 7 * D + H),
        # Southern hemisphere: Sydney goes back on April 5 and forward on October 4, 2026.
        ("Australia/Sydney", (2026, 4, 5, 12), utc(2026, 3, 29, 22), utc(2026, 4, 5, 23), 7 * D + H),
        ("Australia/Sydney", (2026, 10, 4, 12), utc(2026, 9, 27, 23), utc(2026, 10, 4, 22), 7 * D - H),
    ],
)
def test_weekly_handoff_stays_at_0900_local_across_dst_in_both_hemispheres(
    zone_name: str, inside: tuple[int, int, int, int], starts: datetime, ends: datetime, length: timedelta
) -> None:
    tz = ZoneInfo(zone_name)
    s = weekly(zone_name)
    shift = on_call(s, datetime(*inside, tzinfo=tz))
    assert (shift.starts_at, shift.ends_at) == (starts, ends)
    assert shift.ends_at - shift.starts_at == length
    assert wall(shift.starts_at, tz).time() == wall(shift.ends_at, tz).time() == time(9)
    year = shifts(s, utc(2026, 1, 5), utc(2027, 1, 4))
    assert {(wall(x.starts_at, tz).weekday(), wall(x.starts_at, tz).time()) for x in year} == {(0, time(9))}
    assert [x.slot for x in year] == list(range(year[0].slot or 0, (year[0].slot or 0) + len(year)))


def test_daily_handoff_in_sydney_across_both_dst_changes() -> None:
    s = schedule(timezone="Australia/Sydney", period=None, handoff="daily at 09:00", anchor="2026-01-01")
    autumn = on_call(s, local(SYDNEY, 2026, 4, 5, 3))  # the repeated hour's second 02:xx is just before
    assert (autumn.starts_at, autumn.ends_at) == (utc(2026, 4, 3, 22), utc(2026, 4, 4, 23))
    assert autumn.ends_at - autumn.starts_at == 25 * H
    spring = on_call(s, local(SYDNEY, 2026, 10, 4, 3))
    assert (spring.starts_at, spring.ends_at) == (utc(2026, 10, 2, 23), utc(2026, 10, 3, 22))
    assert spring.ends_at - spring.starts_at == 23 * H
    # 08:59 and 09:00 local on the morning after each change: the handoff is at 09:00 on the new offset.
    for day in [date(2026, 4, 5), date(2026, 10, 4)]:
        morning = datetime.combine(day, time(9), tzinfo=SYDNEY)
        assert on_call(s, morning - timedelta(minutes=1)).ends_at == morning.astimezone(UTC)
        assert on_call(s, morning).starts_at == morning.astimezone(UTC)
    days = shifts(s, local(SYDNEY, 2026, 1, 1, 9), local(SYDNEY, 2027, 1, 1, 9))
    assert len(days) == 365
    assert {wall(x.starts_at, SYDNEY).time() for x in days} == {time(9)}
    assert {x.ends_at - x.starts_at for x in days} == {23 * H, D, 25 * H}
    assert all(x.person == "abc"[(wall(x.starts_at, SYDNEY).date() - date(2026, 1, 1)).days % 3] for x in days)


OVERRIDDEN = {
    "name": "p",
    "timezone": "Europe/Berlin",
    "handoff": "weekly on monday at 09:00",
    "anchor": "2026-01-05",
    "members": ["a", "b", "c"],
    "overrides": [
        # Across Monday's handoff (which is the morning after the spring-forward night) ...
        {"who": "x", "from": "2026-03-27T18:00", "to": "2026-03-30T12:00", "reason": "swap"},
        # ... then the same person again, back to back, and someone else back to back after that.
        {"who": "x", "from": "2026-03-30T12:00", "to": "2026-03-31T09:00"},
        {"who": "y", "from": "2026-03-31T09:00", "to": "2026-04-01T09:00", "reason": "cover"},
    ],
}


def test_overrides_spanning_a_handoff_and_back_to_back() -> None:
    s = Schedule.model_validate(OVERRIDDEN)
    # 18:00 CET = 17:00Z; 12:00 and 09:00 CEST = 10:00Z and 07:00Z.
    x1 = (utc(2026, 3, 27, 17), utc(2026, 3, 30, 10))
    x2 = (utc(2026, 3, 30, 10), utc(2026, 3, 31, 7))
    y = (utc(2026, 3, 31, 7), utc(2026, 4, 1, 7))
    week = shifts(s, utc(2026, 3, 23, 8), utc(2026, 4, 6, 8))
    assert [(w.person, w.source, w.slot, w.starts_at, w.ends_at) for w in week] == [
        ("c", "rotation", 11, utc(2026, 3, 23, 8), x1[0]),  # cut short by the override
        ("x", "override", None, *x1),  # covers the 09:00 handoff (07:00Z, CEST since Sunday)
        ("x", "override", None, *x2),
        ("y", "override", None, *y),
        ("a", "rotation", 12, y[1], utc(2026, 4, 6, 7)),  # the rest of a's turn
        ("b", "rotation", 13, utc(2026, 4, 6, 7), utc(2026, 4, 13, 7)),
    ]
    assert all(p.ends_at == n.starts_at for p, n in pairwise(week))
    # The handoff instant itself is inside the override: the rotation's a is not on call yet.
    assert on_call(s, handoff_at(s, 12)).person == "x"
    # Two back-to-back overrides of the same person: no handoff between them, the next one is to y.
    change = next_handoff(s, utc(2026, 3, 28, 12))
    assert change is not None
    assert (change.at, change.outgoing.person, change.incoming.person) == (y[0], "x", "y")
    after_y = next_handoff(s, y[0])
    assert after_y is not None
    assert (after_y.at, after_y.incoming.person, after_y.incoming.slot) == (y[1], "a", 12)


@pytest.mark.parametrize(
    ("at", "person", "source", "starts_at"),
    [
        (utc(2026, 3, 27, 16, 59, 59), "c", "rotation", utc(2026, 3, 23, 8)),
        (utc(2026, 3, 27, 17), "x", "override", utc(2026, 3, 27, 17)),  # the override's first instant
        (utc(2026, 3, 31, 7) - timedelta(microseconds=1), "x", "override", utc(2026, 3, 30, 10)),  # its last
        (utc(2026, 3, 31, 7), "y", "override", utc(2026, 3, 31, 7)),
        (utc(2026, 4, 1, 7) - timedelta(microseconds=1), "y", "override", utc(2026, 3, 31, 7)),
        (utc(2026, 4, 1, 7), "a", "rotation", utc(2026, 4, 1, 7)),  # just after: back to the rotation
    ],
)
def test_who_is_on_call_inside_an_override_and_just_after_it(
    at: datetime, person: str, source: str, starts_at: datetime
) -> None:
    config = OncallFile.model_validate({"schedules": [OVERRIDDEN, {**OVERRIDDEN, "name": "q", "overrides": []}]})
    now = who_is_on_call(config, at)
    first = now[0]
    assert (first.schedule, first.person, first.source, first.starts_at) == ("p", person, source, starts_at)
    assert now[1].source == "rotation"  # the same rotation without overrides is untouched
    assert now[1].person == "abc"[rotation_slot(config.schedule("q"), at) % 3]


def test_view_helpers() -> None:
    s = Schedule.model_validate(OVERRIDDEN)
    covered = on_call(s, utc(2026, 3, 28))
    made_by = override_of(s, covered)
    assert made_by is not None
    assert (made_by.who, made_by.reason, made_by.start) == ("x", "swap", utc(2026, 3, 27, 17))
    assert override_of(s, on_call(s, utc(2026, 4, 2))) is None
    # A turn's own person first goes on call at its handoff, or after the overrides that cover it.
    assert turn_first_start(s, 11) == utc(2026, 3, 23, 8)
    assert turn_first_start(s, 12) == utc(2026, 4, 1, 7)
    whole = schedule(overrides=[{"who": "x", "from": "2026-01-12T09:00", "to": "2026-01-19T09:00"}])
    assert turn_first_start(whole, 1) is None
    assert turn_first_start(whole, 2) == utc(2026, 1, 19, 9)
    people = {"a": Person(name="Ann A."), "b": Person(email="b@example.com")}
    assert [display_name(people, w) for w in ["a", "b", "z"]] == ["Ann A.", "b", "z"]


def test_handoff_horizon_keeps_a_one_person_rotation_cheap() -> None:
    solo = schedule(members=["a"], period="1m", anchor="2026-01-01T00:00")
    at = utc(2026, 3, 1)
    assert handoff_horizon(solo, at) < timedelta(days=3)
    assert next_handoff(solo, at, horizon=handoff_horizon(solo, at)) is None
    # An override of someone else stretches the horizon to reach it.
    covered = schedule(
        members=["a"],
        period="1m",
        anchor="2026-01-01T00:00",
        overrides=[{"who": "x", "from": "2026-03-05T00:00Z", "to": "2026-03-05T01:00Z"}],
    )
    change = next_handoff(covered, at, horizon=handoff_horizon(covered, at))
    assert change is not None
    assert (change.at, change.incoming.person) == (utc(2026, 3, 5), "x")
    assert handoff_horizon(schedule(), at, limit=timedelta(days=10)) == timedelta(days=10)


@settings(max_examples=60, deadline=None)
@given(s=schedules(), t=instants)
def test_property_handoff_horizon_gives_the_same_next_handoff(s: Schedule, t: datetime) -> None:
    assert next_handoff(s, t, horizon=handoff_horizon(s, t)) == next_handoff(s, t)


@settings(max_examples=100, deadline=None)
@given(
    where=st.sampled_from(NEAR_DST),
    offset=st.integers(-6 * 3600, 3 * 3600),
    period=st.sampled_from(["10m", "20m", "30m", "1h"]),
    members=st.lists(st.sampled_from("abcdefgh"), min_size=2, max_size=8, unique=True),
)
def test_property_handoff_horizon_around_dst_gaps(
    where: tuple[str, datetime], offset: int, period: str, members: list[str]
) -> None:
    # Short turns are where a spring-forward gap swallows whole turns (and members with them). Distinct
    # members: a one-person rotation is covered above, and walking its year of 10-minute turns is slow.
    zone_name, change = where
    s = schedule(timezone=zone_name, period=period, anchor="2026-01-01T00:00", members=members)
    t = change + timedelta(seconds=offset)
    assert next_handoff(s, t, horizon=handoff_horizon(s, t)) == next_handoff(s, t)
