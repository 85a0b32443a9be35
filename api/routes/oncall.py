"""On-call: who is on call at a time, a schedule's shifts, and its iCalendar export (config/oncall.yaml).

Read-only. The file is read on every request, as the remediation activities do, so an edit applies at once.
The handlers are plain `def`: FastAPI runs them in its thread pool, so walking a long range of short turns
never stalls the event loop.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SettingsDep
from api.ingest import IngestError
from domain.oncall import (
    ONCALL_FILE,
    EscalationPolicy,
    OncallFile,
    OnCallShift,
    Schedule,
    display_name,
    format_duration,
    handoff_horizon,
    iter_shifts,
    next_handoff,
    on_call,
    override_of,
    page_targets,
)
from domain.oncall_ics import MEDIA_TYPE, render_calendar
from domain.settings import ConfigError, Settings, load_yaml

router = APIRouter(tags=["oncall"])

MAX_RANGE = timedelta(days=366)
MAX_SHIFTS = 5000  # a year of hourly turns fits; a minute rotation over a year does not
SHIFTS_BEFORE, SHIFTS_AFTER = timedelta(0), timedelta(days=14)
ICS_BEFORE, ICS_AFTER = timedelta(days=7), timedelta(days=90)
# Far enough out for any real query; bounded so date arithmetic (a year of look-ahead) cannot overflow.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


class ErrorOut(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown schedule; the message lists the known ones"},
    422: {"model": ErrorOut, "description": "A time without a UTC offset, not ISO 8601, or a range too long"},
    503: {"model": ErrorOut, "description": "config/oncall.yaml is missing or invalid; the message says where"},
}


class PersonOut(BaseModel):
    """Someone on call, with the contact details from `people` when the file lists them."""

    id: str = Field(description="The name used in the schedule (a key of `people`)")
    name: str = Field(description="Display name from `people`, else the id")
    email: str | None = None
    slack: str | None = Field(default=None, description="Slack member id")


class ShiftOut(BaseModel):
    """One uninterrupted stretch of one person on call: [starts_at, ends_at)."""

    person: PersonOut
    starts_at: datetime = Field(description="UTC")
    ends_at: datetime = Field(description="UTC, exclusive")
    starts_at_local: datetime = Field(description="The same instant in the schedule's time zone (ISO with offset)")
    ends_at_local: datetime
    source: Literal["rotation", "override"]
    slot: int | None = Field(description="Rotation turn k (handoff k starts it); null for an override")
    reason: str | None = Field(default=None, description="The override's reason; null for a rotation shift")


class ScheduleOnCall(BaseModel):
    schedule: str
    description: str
    timezone: str = Field(description="IANA zone of the schedule's handoffs and of the *_local times")
    current: ShiftOut
    next: ShiftOut | None = Field(
        description="The next shift with a different person (the next handoff); null if none within a year"
    )


class LevelTargets(BaseModel):
    level: int = Field(description="1 = L1")
    after: str = Field(description="Delay after the incident opened, e.g. 15m")
    after_seconds: int
    schedule: str | None = Field(description="The schedule this level pages; null when it pages named users")
    people: list[PersonOut] = Field(description="Who this level would page at `at`")
    shift: ShiftOut | None = Field(default=None, description="The schedule's shift that made `people`")


class PolicyOnCall(BaseModel):
    name: str
    description: str
    levels: list[LevelTargets]


class OnCallOut(BaseModel):
    at: datetime = Field(description="The instant asked about, UTC")
    schedules: list[ScheduleOnCall]
    escalation_policies: list[PolicyOnCall] = Field(description="Every policy, whatever `schedule` selects")


class ShiftsOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    schedule: str
    timezone: str
    start: datetime = Field(alias="from", description="Start of the range asked for, UTC")
    end: datetime = Field(alias="to", description="End of the range asked for, UTC")
    shifts: list[ShiftOut] = Field(description="Whole shifts overlapping [from, to), in order, not clipped")


# --- helpers -----------------------------------------------------------------------------------------

_SPACE_FOR_PLUS = re.compile(r"^(.+T[0-9:.,]+) ([0-9]{2}(?::?[0-9]{2})?)$")


def _instant(text: str | None, what: str) -> datetime | None:
    """An ISO 8601 query value as a UTC instant; a 422 that says why when it is not one."""
    if text is None:
        return None
    raw = text.strip()
    # An unencoded "+01:00" arrives as " 01:00" (a '+' in a query string means a space): take it back.
    raw = _SPACE_FOR_PLUS.sub(r"\1+\2", raw)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise IngestError(
            422, f"{what}={text!r} is not an ISO 8601 date-time; write e.g. 2026-01-05T09:00:00Z"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise IngestError(
            422,
            f"{what}={text!r} has no UTC offset, so it is ambiguous; add Z or an offset such as +01:00 "
            "(encode '+' as %2B in a URL)",
        )
    value = value.astimezone(UTC)
    if not EARLIEST <= value < LATEST:
        raise IngestError(422, f"{what}={text!r} is outside {EARLIEST.year}..{LATEST.year - 1}")
    return value


def _window(
    start_text: str | None, end_text: str | None, *, now: datetime, before: timedelta, after: timedelta
) -> tuple[datetime, datetime]:
    """The [from, to) range: defaults now - before .. now + after; one side given keeps the default length."""
    start, end = _instant(start_text, "from"), _instant(end_text, "to")
    if start is None:
        start = now - before if end is None else end - (before + after)
    if end is None:
        end = start + before + after
    if end <= start:
        raise IngestError(422, f"to={end.isoformat()} is not after from={start.isoformat()}")
    if end - start > MAX_RANGE:
        raise IngestError(422, f"[from, to) spans more than {MAX_RANGE.days} days; ask for a shorter range")
    if not (start >= EARLIEST and end < LATEST):
        raise IngestError(422, f"the range must lie within {EARLIEST.year}..{LATEST.year - 1}")
    return start, end


def _load(settings: Settings) -> OncallFile:
    try:
        return load_yaml(settings.config_dir / ONCALL_FILE, OncallFile)
    except ConfigError as exc:
        raise IngestError(503, f"on-call configuration is invalid: {exc}") from None


def _schedule(config: OncallFile, name: str) -> Schedule:
    try:
        return config.schedule(name)
    except KeyError:
        known = ", ".join(s.name for s in config.schedules) or "(none)"
        raise IngestError(404, f"unknown schedule {name!r}; known: {known}") from None


def _person(config: OncallFile, who: str) -> PersonOut:
    entry = config.people.get(who)
    return PersonOut(
        id=who,
        name=display_name(config.people, who),
        email=entry.email if entry is not None else None,
        slack=entry.slack if entry is not None else None,
    )


def _shift(config: OncallFile, schedule: Schedule, shift: OnCallShift) -> ShiftOut:
    override = override_of(schedule, shift)
    return ShiftOut(
        person=_person(config, shift.person),
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        starts_at_local=shift.starts_at.astimezone(schedule.tz),
        ends_at_local=shift.ends_at.astimezone(schedule.tz),
        source=shift.source,
        slot=shift.slot,
        reason=override.reason if override is not None else None,
    )


def _shifts_in(schedule: Schedule, start: datetime, end: datetime) -> list[OnCallShift]:
    """The whole shifts overlapping [start, end), refusing ranges that hold more than MAX_SHIFTS."""
    out: list[OnCallShift] = []
    for shift in islice(iter_shifts(schedule, start), MAX_SHIFTS + 1):
        if shift.starts_at >= end:
            return out
        out.append(shift)
    raise IngestError(
        422, f"[from, to) holds more than {MAX_SHIFTS} shifts of {schedule.name}; ask for a shorter range"
    )


def _policy(config: OncallFile, policy: EscalationPolicy, at: datetime) -> PolicyOnCall:
    levels = []
    for target, level in zip(page_targets(policy, config, at), policy.levels, strict=True):
        shift = None
        if target.shift is not None and target.schedule is not None:
            shift = _shift(config, config.schedule(target.schedule), target.shift)
        levels.append(
            LevelTargets(
                level=target.level,
                after=format_duration(level.after),
                after_seconds=int(level.after.total_seconds()),
                schedule=target.schedule,
                people=[_person(config, p) for p in target.people],
                shift=shift,
            )
        )
    return PolicyOnCall(name=policy.name, description=policy.description, levels=levels)


# --- routes ------------------------------------------------------------------------------------------
# `/oncall/{schedule}.ics` comes before any route whose last segment is a bare `{schedule}`, so that one
# could never swallow "<name>.ics".


@router.get(
    "/oncall/{schedule}.ics",
    response_class=Response,
    responses={
        200: {
            "description": "iCalendar (RFC 5545): one VEVENT per shift, times in UTC, UIDs stable across exports",
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **ERRORS,
    },
)
def calendar(
    schedule: str,
    settings: SettingsDep,
    start: Annotated[
        str | None, Query(alias="from", description="ISO 8601 with offset; default 7 days ago (or to - 97 days)")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="ISO 8601 with offset; default in 90 days (or from + 97 days)")
    ] = None,
) -> Response:
    """The schedule as a calendar file to import or subscribe to (at most 366 days per request)."""
    now = datetime.now(UTC)
    lo, hi = _window(start, end, now=now, before=ICS_BEFORE, after=ICS_AFTER)
    config = _load(settings)
    chosen = _schedule(config, schedule)
    body = render_calendar(schedule=chosen, shifts=_shifts_in(chosen, lo, hi), people=config.people, generated_at=now)
    # Schedule names match ^[a-z0-9][a-z0-9._-]*$ (validated), so the filename needs no escaping.
    return Response(
        content=body,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{chosen.name}.ics"'},
    )


@router.get("/oncall", responses=ERRORS)
def who_is_on_call(
    settings: SettingsDep,
    at: Annotated[str | None, Query(description="ISO 8601 with a UTC offset (Z, +01:00); default now")] = None,
    schedule: Annotated[
        list[str] | None, Query(description="Only these schedules (repeatable); default all, in file order")
    ] = None,
) -> OnCallOut:
    """Who is on call at `at`: per schedule the current and the next shift, per escalation policy whom
    each level would page."""
    instant = _instant(at, "at") or datetime.now(UTC)
    config = _load(settings)
    chosen = [_schedule(config, name) for name in dict.fromkeys(schedule)] if schedule else config.schedules
    out: list[ScheduleOnCall] = []
    for s in chosen:
        current = on_call(s, instant)
        handoff = next_handoff(s, instant, horizon=handoff_horizon(s, instant))
        out.append(
            ScheduleOnCall(
                schedule=s.name,
                description=s.description,
                timezone=s.timezone,
                current=_shift(config, s, current),
                next=_shift(config, s, handoff.incoming) if handoff is not None else None,
            )
        )
    policies = [_policy(config, p, instant) for p in config.escalation_policies]
    return OnCallOut(at=instant, schedules=out, escalation_policies=policies)


@router.get("/oncall/{schedule}/shifts", responses=ERRORS)
def list_shifts(
    schedule: str,
    settings: SettingsDep,
    start: Annotated[
        str | None, Query(alias="from", description="ISO 8601 with offset; default now (or to - 14 days)")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="ISO 8601 with offset; default in 14 days (or from + 14 days)")
    ] = None,
) -> ShiftsOut:
    """The shifts of one schedule overlapping [from, to) (at most 366 days per request)."""
    lo, hi = _window(start, end, now=datetime.now(UTC), before=SHIFTS_BEFORE, after=SHIFTS_AFTER)
    config = _load(settings)
    chosen = _schedule(config, schedule)
    shifts = [_shift(config, chosen, x) for x in _shifts_in(chosen, lo, hi)]
    return ShiftsOut(schedule=chosen.name, timezone=chosen.timezone, start=lo, end=hi, shifts=shifts)
