"""On-call shifts as an iCalendar (RFC 5545) file, for subscribing to a schedule from a calendar app.

Pure: the caller passes the shifts and the export time (DTSTAMP); nothing here reads a clock.

Event times are UTC (no VTIMEZONE needed); X-WR-TIMEZONE tells calendar apps the schedule's zone. UIDs
depend only on the schedule, never on the exported range, so a subscribed calendar updates events in place
instead of duplicating them:

- a rotation turn k is `<schedule>-<k>@aisre`; when overrides cut the turn into pieces, the piece where the
  turn's person first goes on call keeps that UID and every later piece adds its start
  (`<schedule>-<k>-<epoch>@aisre`);
- an override is `<schedule>-override-<start epoch>@aisre` (overrides of one schedule never overlap).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from domain.oncall import (
    OnCallShift,
    Person,
    Schedule,
    display_name,
    handoff_at,
    override_of,
    turn_first_start,
)

PRODID = "-//AI-SRE//On-call//EN"
UID_DOMAIN = "aisre"
MEDIA_TYPE = "text/calendar; charset=utf-8"


def _epoch(at: datetime) -> str:
    whole = int(at.timestamp() // 1)
    micro = at.microsecond
    # Whole seconds in the common case; sub-second starts keep their fraction so UIDs stay distinct.
    return str(whole) if micro == 0 else f"{whole}.{micro:06d}"


def event_uid(schedule: Schedule, shift: OnCallShift) -> str:
    """The stable UID of `shift`'s calendar event (see the module docstring)."""
    if shift.source == "override":
        return f"{schedule.name}-override-{_epoch(shift.starts_at)}@{UID_DOMAIN}"
    if shift.slot is None:
        raise ValueError("a rotation shift without a slot")
    if shift.starts_at == turn_first_start(schedule, shift.slot):
        return f"{schedule.name}-{shift.slot}@{UID_DOMAIN}"
    return f"{schedule.name}-{shift.slot}-{_epoch(shift.starts_at)}@{UID_DOMAIN}"


def _local(at: datetime, schedule: Schedule) -> str:
    return at.astimezone(schedule.tz).strftime("%a %Y-%m-%d %H:%M %Z")


def event_summary(schedule: Schedule, shift: OnCallShift, people: dict[str, Person]) -> str:
    """`On call: <display name> (<schedule>)`."""
    return f"On call: {display_name(people, shift.person)} ({schedule.name})"


def event_description(schedule: Schedule, shift: OnCallShift, people: dict[str, Person]) -> str:
    """Where the shift comes from (rotation turn k, or an override and its reason) and its local times."""
    who = display_name(people, shift.person)
    if shift.source == "override":
        override = override_of(schedule, shift)
        reason = override.reason.strip() if override is not None else ""
        source = f"Override: {who} covers {schedule.name} instead of the rotation"
        source += f" (reason: {reason})." if reason else "."
    else:
        source = f"Rotation turn {shift.slot} of {schedule.name}: {who}."
        assert shift.slot is not None  # event_uid refused a rotation shift without one
        if (shift.starts_at, shift.ends_at) != (handoff_at(schedule, shift.slot), handoff_at(schedule, shift.slot + 1)):
            source += " Overrides cover part of this turn."
    times = (
        f"Local time ({schedule.timezone}): {_local(shift.starts_at, schedule)} to {_local(shift.ends_at, schedule)}"
    )
    return f"{source}\n{times}"


def render_calendar(
    *,
    schedule: Schedule,
    shifts: Sequence[OnCallShift],
    people: dict[str, Person],
    generated_at: datetime,
) -> bytes:
    """The schedule's shifts as an iCalendar file (UTF-8, CRLF line endings, folded lines)."""
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError(f"generated_at must be timezone-aware, got {generated_at.isoformat()}")
    stamp = generated_at.astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"On call: {schedule.name}")
    cal.add("x-wr-timezone", schedule.timezone)
    if schedule.description:
        cal.add("x-wr-caldesc", schedule.description)
    # Subscribed calendars poll; rotations change rarely but overrides get added, so an hour is enough.
    cal.add("x-published-ttl", vText("PT1H"))
    seen: set[str] = set()
    for shift in shifts:
        if shift.schedule != schedule.name:
            raise ValueError(f"shift of schedule {shift.schedule!r} in the calendar of {schedule.name!r}")
        uid = event_uid(schedule, shift)
        if uid in seen:
            raise ValueError(f"shift {uid} listed twice")
        seen.add(uid)
        event = Event()
        event.add("uid", uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", shift.starts_at.astimezone(UTC))
        event.add("dtend", shift.ends_at.astimezone(UTC))
        event.add("summary", event_summary(schedule, shift, people))
        event.add("description", event_description(schedule, shift, people))
        event.add("status", "CONFIRMED")
        # Being on call is not a meeting: keep the person's free/busy time free.
        event.add("transp", "TRANSPARENT")
        event.add("categories", ["On call"])
        person = people.get(shift.person)
        if person is not None and person.email:
            attendee = vCalAddress(f"mailto:{person.email}")
            attendee.params["cn"] = vText(display_name(people, shift.person))
            attendee.params["role"] = vText("REQ-PARTICIPANT")
            event.add("attendee", attendee, encode=False)
        cal.add_component(event)
    return cal.to_ical()
