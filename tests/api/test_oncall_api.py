"""On-call routes through the real app (lifespan, access middleware, error mapping) with an oncall.yaml written
here: who is on call, a schedule's shifts, and its iCalendar export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar, Event
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import Harness, running_harness

# The routes read no database: one backend is enough (the harness still migrates it, as the app does).
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

ONCALL = """
people:
  alice: {name: Alice Andersen, email: alice@example.com, slack: U01ALICE}
  bob: {name: Bob Becker, email: bob@example.com}
  carol: {name: Carol Costa}
  erin: {name: Erin Eriksen, email: erin@example.com}
  mgr: {name: Mia Manager, email: mia@example.com}
schedules:
  - name: primary
    description: Weekly, Monday 09:00 Berlin
    timezone: Europe/Berlin
    handoff: weekly on monday at 09:00
    anchor: 2026-01-05
    members: [alice, bob, carol]
    overrides:
      # Friday evening to Tuesday morning, across Monday's handoff and the spring-forward night.
      - {who: erin, from: "2026-03-27T18:00", to: "2026-03-31T09:00", reason: offsite}
      # carol starts early: her own turn 17 follows at Monday's handoff, so that is no change of person.
      - {who: carol, from: "2026-04-30T09:00", to: "2026-05-04T09:00", reason: early start}
  - name: us.managers
    timezone: America/New_York
    handoff: daily at 10:00
    anchor: 2026-01-01
    members: [mgr, bob]
  - name: hourly
    timezone: UTC
    period: 1h
    anchor: 2026-01-01T00:00
    members: [alice, bob]
escalation_policies:
  - name: sre
    description: primary, then the managers, then Mia by name
    levels:
      - {after: 0m, schedule: primary}
      - {after: 15m, schedule: us.managers}
      - {after: 30m, users: [mgr]}
"""


@pytest.fixture
async def h(db_url: str, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_harness(
        db_url=db_url, env=temporal_env, task_queue=task_queue, tmp_path=tmp_path, worker=False
    ) as harness:
        write_oncall(harness, ONCALL)
        yield harness


def write_oncall(h: Harness, text: str) -> None:
    (h.settings.config_dir / "oncall.yaml").write_text(text, encoding="utf-8")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def vevents(body: bytes) -> list[Event]:
    return [e for e in Calendar.from_ical(body).walk("VEVENT") if isinstance(e, Event)]


# --- GET /oncall -------------------------------------------------------------------------------------


async def test_who_is_on_call_during_an_override_across_a_handoff(h: Harness) -> None:
    # Monday 08:30 in Berlin, the morning after the clocks went forward: erin's override covers the handoff.
    r = await h.http.get("/oncall", params={"at": "2026-03-30T08:30:00+02:00"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["at"] == "2026-03-30T06:30:00Z"
    assert [s["schedule"] for s in body["schedules"]] == ["primary", "us.managers", "hourly"]
    primary = body["schedules"][0]
    assert (primary["timezone"], primary["description"]) == ("Europe/Berlin", "Weekly, Monday 09:00 Berlin")
    assert primary["current"] == {
        "person": {"id": "erin", "name": "Erin Eriksen", "email": "erin@example.com", "slack": None},
        "starts_at": "2026-03-27T17:00:00Z",
        "ends_at": "2026-03-31T07:00:00Z",
        "starts_at_local": "2026-03-27T18:00:00+01:00",  # CET when it began ...
        "ends_at_local": "2026-03-31T09:00:00+02:00",  # ... CEST when it ends
        "source": "override",
        "slot": None,
        "reason": "offsite",
    }
    # The next different person: alice, whose turn 12 began at the (overridden) Monday handoff.
    nxt = primary["next"]
    assert (nxt["person"]["id"], nxt["person"]["slack"], nxt["source"], nxt["slot"]) == (
        "alice",
        "U01ALICE",
        "rotation",
        12,
    )
    assert (nxt["starts_at"], nxt["ends_at"]) == ("2026-03-31T07:00:00Z", "2026-04-06T07:00:00Z")
    assert nxt["ends_at_local"] == "2026-04-06T09:00:00+02:00"
    # New York: 02:30 EDT on Monday, inside Sunday 10:00's daily turn (day 87 since Jan 1: bob).
    managers = body["schedules"][1]
    assert managers["current"]["person"] == {
        "id": "bob",
        "name": "Bob Becker",
        "email": "bob@example.com",
        "slack": None,
    }
    assert (managers["current"]["starts_at"], managers["current"]["starts_at_local"]) == (
        "2026-03-29T14:00:00Z",
        "2026-03-29T10:00:00-04:00",
    )
    assert (managers["next"]["person"]["id"], managers["next"]["starts_at_local"]) == (
        "mgr",
        "2026-03-30T10:00:00-04:00",
    )
    (sre,) = body["escalation_policies"]
    assert sre["name"] == "sre"
    assert [(lv["level"], lv["after"], lv["after_seconds"], lv["schedule"]) for lv in sre["levels"]] == [
        (1, "0m", 0, "primary"),
        (2, "15m", 900, "us.managers"),
        (3, "30m", 1800, None),
    ]
    assert [[p["id"] for p in lv["people"]] for lv in sre["levels"]] == [["erin"], ["bob"], ["mgr"]]
    assert sre["levels"][0]["shift"]["source"] == "override"
    assert sre["levels"][2]["shift"] is None
    assert sre["levels"][2]["people"][0]["name"] == "Mia Manager"


@pytest.mark.parametrize(
    ("at", "person", "source", "next_person", "next_at"),
    [
        ("2026-03-31T08:59:59.999999+02:00", "erin", "override", "alice", "2026-03-31T07:00:00Z"),  # last instant
        ("2026-03-31T09:00:00+02:00", "alice", "rotation", "bob", "2026-04-06T07:00:00Z"),  # just after
        ("2026-04-06T06:59:59Z", "alice", "rotation", "bob", "2026-04-06T07:00:00Z"),
        ("2026-04-06T07:00:00Z", "bob", "rotation", "carol", "2026-04-13T07:00:00Z"),
        # Override then own turn, same person: the next *different* person is alice, a week later.
        ("2026-05-01T12:00:00+02:00", "carol", "override", "alice", "2026-05-11T07:00:00Z"),
    ],
)
async def test_inside_an_override_and_just_after_it(
    h: Harness, at: str, person: str, source: str, next_person: str, next_at: str
) -> None:
    r = await h.http.get("/oncall", params={"at": at, "schedule": "primary"})
    assert r.status_code == 200, r.text
    (primary,) = r.json()["schedules"]
    assert (primary["current"]["person"]["id"], primary["current"]["source"]) == (person, source)
    assert (primary["next"]["person"]["id"], primary["next"]["starts_at"]) == (next_person, next_at)


async def test_week_53_boundary_sunday_night_vs_monday_morning(h: Harness) -> None:
    # 2026 has 53 ISO weeks; Sunday 2027-01-03 is in week 53, Monday 09:00 starts turn 52.
    sunday = await h.http.get("/oncall", params={"at": "2027-01-03T23:59:00+01:00", "schedule": "primary"})
    monday = await h.http.get("/oncall", params={"at": "2027-01-04T09:00:00+01:00", "schedule": "primary"})
    late, fresh = sunday.json()["schedules"][0], monday.json()["schedules"][0]
    assert (late["current"]["slot"], late["current"]["person"]["id"]) == (51, "alice")
    assert (fresh["current"]["slot"], fresh["current"]["person"]["id"]) == (52, "bob")
    assert late["next"]["starts_at"] == fresh["current"]["starts_at"] == "2027-01-04T08:00:00Z"


async def test_default_at_is_now_and_schedules_can_be_chosen(h: Harness) -> None:
    before = datetime.now(UTC)
    r = await h.http.get("/oncall", params=[("schedule", "us.managers"), ("schedule", "primary")])
    after = datetime.now(UTC)
    assert r.status_code == 200, r.text
    body = r.json()
    assert before <= parse(body["at"]) <= after
    assert [s["schedule"] for s in body["schedules"]] == ["us.managers", "primary"]  # in the order asked
    for s in body["schedules"]:
        assert parse(s["current"]["starts_at"]) <= parse(body["at"]) < parse(s["current"]["ends_at"])
    assert [p["name"] for p in body["escalation_policies"]] == ["sre"]


async def test_unencoded_plus_in_the_offset_is_understood(h: Harness) -> None:
    # A hand-typed URL: '+' in a query string decodes to a space.
    r = await h.http.get("/oncall?at=2026-03-31T09:00:00+02:00&schedule=primary")
    assert r.status_code == 200, r.text
    assert r.json()["at"] == "2026-03-31T07:00:00Z"


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("2026-03-31T09:00:00", "has no UTC offset, so it is ambiguous"),
        ("2026-03-31", "has no UTC offset, so it is ambiguous"),
        ("yesterday", "is not an ISO 8601 date-time"),
        ("0001-01-01T00:00:00Z", "is outside"),
    ],
)
async def test_bad_at_is_a_422_with_a_reason(h: Harness, at: str, message: str) -> None:
    r = await h.http.get("/oncall", params={"at": at})
    assert r.status_code == 422
    assert message in r.json()["detail"]


async def test_unknown_schedule_is_a_404_listing_the_known_ones(h: Harness) -> None:
    r = await h.http.get("/oncall", params=[("schedule", "primary"), ("schedule", "secondary")])
    assert r.status_code == 404
    assert r.json()["detail"] == "unknown schedule 'secondary'; known: primary, us.managers, hourly"
    for path in ["/oncall/secondary/shifts", "/oncall/secondary.ics"]:
        r = await h.http.get(path)
        assert r.status_code == 404, path
        assert "known: primary, us.managers, hourly" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/oncall", "/oncall/primary/shifts", "/oncall/primary.ics"])
async def test_invalid_or_missing_oncall_yaml_is_a_503_naming_the_problem(h: Harness, path: str) -> None:
    write_oncall(h, ONCALL.replace("timezone: America/New_York", "timezone: America/Nowhere"))
    r = await h.http.get(path)
    assert r.status_code == 503
    detail = r.json()["detail"]
    assert "oncall.yaml: schedules.1.timezone" in detail
    assert "unknown time zone 'America/Nowhere'" in detail
    (h.settings.config_dir / "oncall.yaml").unlink()
    r = await h.http.get(path)
    assert r.status_code == 503
    assert "oncall.yaml: cannot read" in r.json()["detail"]


# --- GET /oncall/{schedule}/shifts -------------------------------------------------------------------


async def test_shifts_in_a_range(h: Harness) -> None:
    r = await h.http.get(
        "/oncall/primary/shifts", params={"from": "2026-03-25T00:00:00Z", "to": "2026-04-07T00:00:00Z"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["schedule"], body["timezone"], body["from"], body["to"]) == (
        "primary",
        "Europe/Berlin",
        "2026-03-25T00:00:00Z",
        "2026-04-07T00:00:00Z",
    )
    rows = [(s["person"]["id"], s["source"], s["slot"], s["starts_at"], s["ends_at"]) for s in body["shifts"]]
    assert rows == [
        ("carol", "rotation", 11, "2026-03-23T08:00:00Z", "2026-03-27T17:00:00Z"),  # whole shifts, not clipped
        ("erin", "override", None, "2026-03-27T17:00:00Z", "2026-03-31T07:00:00Z"),
        ("alice", "rotation", 12, "2026-03-31T07:00:00Z", "2026-04-06T07:00:00Z"),
        ("bob", "rotation", 13, "2026-04-06T07:00:00Z", "2026-04-13T07:00:00Z"),
    ]
    assert body["shifts"][0]["starts_at_local"] == "2026-03-23T09:00:00+01:00"
    assert body["shifts"][2]["starts_at_local"] == "2026-03-31T09:00:00+02:00"


async def test_shifts_default_range_is_the_next_14_days(h: Harness) -> None:
    before = datetime.now(UTC)
    body = (await h.http.get("/oncall/us.managers/shifts")).json()
    start, end = parse(body["from"]), parse(body["to"])
    assert before <= start <= datetime.now(UTC)
    assert end - start == timedelta(days=14)
    days = body["shifts"]
    assert parse(days[0]["starts_at"]) <= start < parse(days[0]["ends_at"])
    assert parse(days[-1]["starts_at"]) < end <= parse(days[-1]["ends_at"])
    assert all(p["ends_at"] == n["starts_at"] for p, n in pairwise(days))
    assert {parse(d["starts_at_local"]).strftime("%H:%M") for d in days[1:]} == {"10:00"}
    assert 14 <= len(days) <= 16  # a handoff a day, plus the turn in force at the start (DST: ±1)
    # One side given keeps the default length.
    only_to = (await h.http.get("/oncall/us.managers/shifts", params={"to": "2026-07-15T00:00:00Z"})).json()
    assert (only_to["from"], only_to["to"]) == ("2026-07-01T00:00:00Z", "2026-07-15T00:00:00Z")
    only_from = (await h.http.get("/oncall/us.managers/shifts", params={"from": "2026-07-01T00:00:00Z"})).json()
    assert only_from["to"] == "2026-07-15T00:00:00Z"


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"from": "2026-01-01T00:00:00Z", "to": "2027-01-02T00:00:00Z"}, 200, None),  # 366 days: the maximum
        ({"from": "2026-01-01T00:00:00Z", "to": "2027-01-02T00:00:01Z"}, 422, "more than 366 days"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}, 422, "is not after"),
        ({"from": "2026-02-01T00:00:00"}, 422, "from='2026-02-01T00:00:00' has no UTC offset"),
        ({"to": "soon"}, 422, "to='soon' is not an ISO 8601 date-time"),
    ],
)
async def test_shift_range_limits(h: Harness, params: dict[str, str], status: int, message: str | None) -> None:
    r = await h.http.get("/oncall/primary/shifts", params=params)
    assert r.status_code == status, r.text
    if message is not None:
        assert message in r.json()["detail"]


async def test_too_many_shifts_is_a_422(h: Harness) -> None:
    fine = await h.http.get("/oncall/hourly/shifts", params={"from": "2026-01-01T00:00:00Z"})
    assert fine.status_code == 200
    assert len(fine.json()["shifts"]) == 14 * 24
    year = await h.http.get(
        "/oncall/hourly/shifts", params={"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    )
    assert year.status_code == 422
    assert "more than 5000 shifts of hourly" in year.json()["detail"]


# --- GET /oncall/{schedule}.ics ----------------------------------------------------------------------


async def test_calendar_export_matches_the_shifts(h: Harness) -> None:
    params = {"from": "2026-03-23T08:00:00Z", "to": "2026-04-20T00:00:00Z"}
    r = await h.http.get("/oncall/primary.ics", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="primary.ics"'
    cal = Calendar.from_ical(r.content)
    assert (str(cal["PRODID"]), str(cal["VERSION"]), str(cal["X-WR-TIMEZONE"])) == (
        "-//AI-SRE//On-call//EN",
        "2.0",
        "Europe/Berlin",
    )
    assert str(cal["X-WR-CALNAME"]) == "On call: primary"
    shifts = (await h.http.get("/oncall/primary/shifts", params=params)).json()["shifts"]
    events = vevents(r.content)
    assert [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in events] == [
        (parse(s["starts_at"]), parse(s["ends_at"])) for s in shifts
    ]
    assert [str(e["SUMMARY"]) for e in events] == [f"On call: {s['person']['name']} (primary)" for s in shifts]
    uids = [str(e["UID"]) for e in events]
    assert uids == [
        "primary-11@aisre",
        f"primary-override-{int(utc(2026, 3, 27, 17).timestamp())}@aisre",
        "primary-12@aisre",
        "primary-13@aisre",
        "primary-14@aisre",
    ]
    override = events[1]
    assert "offsite" in str(override["DESCRIPTION"])
    assert str(override["ATTENDEE"]) == "mailto:erin@example.com"
    assert "ATTENDEE" not in events[0]  # carol has no email


async def test_calendar_uids_are_stable_across_exports(h: Harness) -> None:
    first = await h.http.get(
        "/oncall/primary.ics", params={"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    )
    second = await h.http.get(
        "/oncall/primary.ics", params={"from": "2026-03-25T00:00:00Z", "to": "2026-05-01T00:00:00Z"}
    )
    a = {str(e["UID"]): (e.decoded("DTSTART"), e.decoded("DTEND")) for e in vevents(first.content)}
    b = {str(e["UID"]): (e.decoded("DTSTART"), e.decoded("DTEND")) for e in vevents(second.content)}
    shared = a.keys() & b.keys()
    assert len(shared) == 3  # carol's turn 11, erin's override, alice's turn 12
    assert all(a[u] == b[u] for u in shared)


async def test_calendar_default_range_and_a_dotted_name(h: Harness) -> None:
    # "us.managers.ics": the schedule is "us.managers", not "us" with a ".managers.ics" suffix.
    r = await h.http.get("/oncall/us.managers.ics")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="us.managers.ics"'
    now = datetime.now(UTC)
    events = vevents(r.content)
    starts = [e.decoded("DTSTART") for e in events]
    # 7 days back to 90 ahead: the day in force at the start, then a handoff a day (DST: ±1).
    assert 97 <= len(events) <= 99
    assert starts[0] <= now - timedelta(days=7) < events[0].decoded("DTEND")
    assert starts[-1] < now + timedelta(days=90) <= events[-1].decoded("DTEND")
    assert all(abs(e.decoded("DTSTAMP") - now) < timedelta(minutes=1) for e in events)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-01-01T00:00:00Z", "to": "2027-06-01T00:00:00Z"}, "more than 366 days"),
        ({"from": "2026-01-01T00:00:00"}, "has no UTC offset"),
    ],
)
async def test_calendar_range_errors(h: Harness, params: dict[str, str], message: str) -> None:
    r = await h.http.get("/oncall/primary.ics", params=params)
    assert r.status_code == 422
    assert message in r.json()["detail"]


async def test_openapi_documents_the_routes(h: Harness) -> None:
    spec: dict[str, Any] = (await h.http.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in ["/oncall", "/oncall/{schedule}/shifts", "/oncall/{schedule}.ics"]:
        responses = paths[path]["get"]["responses"]
        assert {"200", "404", "422", "503"} <= responses.keys(), path
        assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    ics = paths["/oncall/{schedule}.ics"]["get"]["responses"]["200"]["content"]
    assert list(ics) == ["text/calendar; charset=utf-8"]
    assert paths["/oncall"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/OnCallOut"
    )
    shifts = spec["components"]["schemas"]["ShiftsOut"]
    assert {"from", "to", "shifts"} <= shifts["properties"].keys()
    assert shifts["properties"]["shifts"]["items"]["$ref"].endswith("/ShiftOut")
