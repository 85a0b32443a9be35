"""The iCalendar export of a schedule: parsed back with `icalendar`, compared with the shifts it came from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from icalendar import Calendar, Event

from domain.oncall import OncallFile, OnCallShift, Schedule, handoff_at, shifts
from domain.oncall_ics import PRODID, event_uid, render_calendar


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


CONFIG = """
people:
  a: {name: Ann Åberg, email: ann@example.com}
  b: {name: "Bo, the; backup", email: bo@example.com}
  c: {name: Cy}                       # no email: no ATTENDEE
  x: {email: x@example.com}           # no name: the key is the display name
schedules:
  - name: ops.eu
    description: EU operations
    timezone: Europe/Berlin
    handoff: weekly on monday at 09:00
    anchor: 2026-01-05
    members: [a, b, c]
    overrides:
      - {who: x, from: "2026-01-21T12:00", to: "2026-01-22T12:00", reason: "Cy at the dentist"}  # inside c's turn 2
      - {who: c, from: "2026-02-01T18:00", to: "2026-02-03T09:00", reason: swap}  # across the Monday 09:00 handoff
"""

STAMP = utc(2026, 1, 1, 12)


@pytest.fixture
def config() -> OncallFile:
    return OncallFile.model_validate(yaml.safe_load(CONFIG))


@pytest.fixture
def ops(config: OncallFile) -> Schedule:
    return config.schedule("ops.eu")


def export(config: OncallFile, start: datetime, end: datetime, stamp: datetime = STAMP) -> tuple[bytes, Calendar]:
    schedule = config.schedule("ops.eu")
    body = render_calendar(
        schedule=schedule, shifts=shifts(schedule, start, end), people=config.people, generated_at=stamp
    )
    return body, Calendar.from_ical(body)


def events(cal: Calendar) -> list[Event]:
    return [e for e in cal.walk("VEVENT") if isinstance(e, Event)]


def by_uid(cal: Calendar) -> dict[str, Event]:
    return {str(e["UID"]): e for e in events(cal)}


def times(event: Event) -> tuple[datetime, datetime]:
    return event.decoded("DTSTART"), event.decoded("DTEND")


def test_every_event_matches_its_shift(config: OncallFile, ops: Schedule) -> None:
    start, end = utc(2026, 1, 5), utc(2026, 4, 6)
    expected = shifts(ops, start, end)
    _, cal = export(config, start, end)
    got = events(cal)
    assert len(got) == len(expected) == 17  # turns -1..12, turn 2 split in two by x, plus the two overrides
    for event, shift in zip(got, expected, strict=True):
        dtstart, dtend = times(event)
        assert (dtstart, dtend) == (shift.starts_at, shift.ends_at)
        assert dtstart.utcoffset() == timedelta(0)
        assert str(event["UID"]) == event_uid(ops, shift)
        assert event.decoded("DTSTAMP") == STAMP
        name = config.people[shift.person].name or shift.person
        assert str(event["SUMMARY"]) == f"On call: {name} (ops.eu)"


def test_calendar_header_and_wire_format(config: OncallFile) -> None:
    body, cal = export(config, utc(2026, 1, 5), utc(2026, 3, 2))
    assert (str(cal["PRODID"]), str(cal["VERSION"])) == (PRODID, "2.0") == ("-//AI-SRE//On-call//EN", "2.0")
    assert str(cal["X-WR-CALNAME"]) == "On call: ops.eu"
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/Berlin"
    assert str(cal["X-WR-CALDESC"]) == "EU operations"
    text = body.decode("utf-8")
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    lines = text.split("\r\n")[:-1]
    assert all("\n" not in line and "\r" not in line for line in lines)  # CRLF only, RFC 5545 §3.1
    assert all(len(line.encode("utf-8")) <= 75 for line in lines)  # long lines folded
    # UTC form ("...Z"), so no VTIMEZONE is needed.
    assert not cal.walk("VTIMEZONE")
    assert all(line.endswith("Z") for line in lines if line.startswith(("DTSTART", "DTEND", "DTSTAMP")))


def test_uids_unique_and_stable_between_overlapping_exports(config: OncallFile) -> None:
    _, january = export(config, utc(2026, 1, 1), utc(2026, 2, 15))
    _, february = export(config, utc(2026, 1, 22, 12), utc(2026, 3, 30), stamp=utc(2026, 1, 20))
    for cal in (january, february):
        uids = [str(e["UID"]) for e in events(cal)]
        assert len(uids) == len(set(uids))
    first, second = by_uid(january), by_uid(february)
    shared = first.keys() & second.keys()
    # The overlap [Jan 22 12:00Z, Feb 15): the second piece of turn 2, turn 3, the override of c, turns 4 and 5.
    assert len(shared) == 5
    for uid in shared:
        assert times(first[uid]) == times(second[uid])
        assert str(first[uid]["SUMMARY"]) == str(second[uid]["SUMMARY"])
    # Everything in both ranges is in both files: nothing is renamed because the range moved.
    lo, hi = utc(2026, 1, 22, 12), utc(2026, 2, 15)
    for events_of in (first, second):
        inside = {u for u, e in events_of.items() if times(e)[0] < hi and times(e)[1] > lo}
        assert inside == shared


def test_a_turn_cut_by_an_override_keeps_its_slot_uid(config: OncallFile, ops: Schedule) -> None:
    _, cal = export(config, utc(2026, 1, 19, 8), utc(2026, 1, 26))
    got = [(str(e["UID"]), *times(e), str(e["SUMMARY"])) for e in events(cal)]
    override_start = utc(2026, 1, 21, 11)  # 12:00 CET
    override_end = utc(2026, 1, 22, 11)
    assert got == [
        ("ops.eu-2@aisre", handoff_at(ops, 2), override_start, "On call: Cy (ops.eu)"),
        (
            f"ops.eu-override-{int(override_start.timestamp())}@aisre",
            override_start,
            override_end,
            "On call: x (ops.eu)",
        ),
        (f"ops.eu-2-{int(override_end.timestamp())}@aisre", override_end, handoff_at(ops, 3), "On call: Cy (ops.eu)"),
    ]
    # Exported alone, the later piece still carries its own UID, not the turn's.
    _, later = export(config, utc(2026, 1, 23), utc(2026, 1, 24))
    assert [str(e["UID"]) for e in events(later)] == [got[2][0]]


def test_a_turn_that_starts_under_an_override_keeps_the_slot_uid(config: OncallFile, ops: Schedule) -> None:
    # c covers from Sunday 18:00 to Tuesday 09:00, from the end of a's turn 3 into b's turn 4.
    _, cal = export(config, utc(2026, 2, 1), utc(2026, 2, 8))
    rows = [(str(e["UID"]), *times(e)) for e in events(cal)]
    assert rows[-2:] == [
        (f"ops.eu-override-{int(utc(2026, 2, 1, 17).timestamp())}@aisre", utc(2026, 2, 1, 17), utc(2026, 2, 3, 8)),
        ("ops.eu-4@aisre", utc(2026, 2, 3, 8), handoff_at(ops, 5)),
    ]


def test_override_event_names_its_source_and_reason(config: OncallFile) -> None:
    _, cal = export(config, utc(2026, 1, 21), utc(2026, 1, 22))
    override = next(e for e in events(cal) if "override" in str(e["UID"]))
    description = str(override["DESCRIPTION"])
    assert "Override" in description
    assert "Cy at the dentist" in description
    assert "Europe/Berlin" in description
    assert "Wed 2026-01-21 12:00 CET" in description  # local times for the reader
    assert str(override["ATTENDEE"]) == "mailto:x@example.com"
    rotation = next(e for e in events(cal) if "override" not in str(e["UID"]))
    assert "Rotation turn 2 of ops.eu" in str(rotation["DESCRIPTION"])
    assert "Overrides cover part of this turn" in str(rotation["DESCRIPTION"])


def test_attendee_only_when_an_email_is_known(config: OncallFile) -> None:
    _, cal = export(config, utc(2026, 1, 5), utc(2026, 1, 26))
    people = {str(e["SUMMARY"]): e.get("ATTENDEE") for e in events(cal)}
    assert people["On call: Cy (ops.eu)"] is None
    ann = people["On call: Ann Åberg (ops.eu)"]
    assert str(ann) == "mailto:ann@example.com"
    assert ann.params["CN"] == "Ann Åberg"


def test_text_is_escaped_and_round_trips(config: OncallFile) -> None:
    body, cal = export(config, utc(2026, 1, 12, 9), utc(2026, 1, 13))
    (event,) = events(cal)
    assert str(event["SUMMARY"]) == "On call: Bo, the; backup (ops.eu)"
    assert b"SUMMARY:On call: Bo\\, the\\; backup (ops.eu)" in body  # RFC 5545 §3.3.11 escapes
    assert event["ATTENDEE"].params["CN"] == "Bo, the; backup"


def test_dst_change_shows_in_utc_times(config: OncallFile, ops: Schedule) -> None:
    _, cal = export(config, utc(2026, 3, 25), utc(2026, 3, 26))
    (event,) = events(cal)
    # Monday 09:00 CET to Monday 09:00 CEST: 08:00Z to 07:00Z, an hour short of a week.
    assert times(event) == (utc(2026, 3, 23, 8), utc(2026, 3, 30, 7))
    assert "Mon 2026-03-23 09:00 CET to Mon 2026-03-30 09:00 CEST" in str(event["DESCRIPTION"])


def test_refuses_what_would_make_a_wrong_file(config: OncallFile, ops: Schedule) -> None:
    week = shifts(ops, utc(2026, 1, 5, 8), utc(2026, 1, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        render_calendar(schedule=ops, shifts=week, people={}, generated_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="listed twice"):
        render_calendar(schedule=ops, shifts=[*week, *week], people={}, generated_at=STAMP)
    other: dict[str, Any] = {**week[0].model_dump(), "schedule": "other"}
    with pytest.raises(ValueError, match=r"'other' in the calendar of 'ops\.eu'"):
        render_calendar(schedule=ops, shifts=[OnCallShift(**other)], people={}, generated_at=STAMP)


def test_empty_directory_and_empty_range(ops: Schedule) -> None:
    body = render_calendar(schedule=ops, shifts=[], people={}, generated_at=STAMP)
    cal = Calendar.from_ical(body)
    assert events(cal) == []
    assert str(cal["X-WR-CALNAME"]) == "On call: ops.eu"
    one = render_calendar(
        schedule=ops, shifts=shifts(ops, utc(2026, 1, 6), utc(2026, 1, 7)), people={}, generated_at=STAMP
    )
    (event,) = events(Calendar.from_ical(one))
    assert str(event["SUMMARY"]) == "On call: a (ops.eu)"
    assert "ATTENDEE" not in event
