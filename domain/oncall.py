"""On-call: rotations, overrides, escalation policies and the escalation ladder (config/oncall.yaml).

Pure: every function takes the time it reasons about; nothing here reads a clock. Time zones come from
the stdlib `zoneinfo` database (the `tzdata` package when the system has none).

**How a rotation turns.** A schedule has members m[0..N-1], a `period` and an `anchor` (a local
date-time in the schedule's `timezone`, when m[0]'s first shift starts). Periods are counted on the
schedule's *wall clock*, never as ISO weeks and never as absolute seconds:

- handoff k happens at the local date-time `anchor + k * period` (naive arithmetic, so a daily or
  weekly handoff stays at 09:00 local before and after a DST change and the shift that contains the
  change is an hour shorter or longer; a 12h rotation hands off at 09:00 and 21:00 local);
- precisely, handoff k happens at the *first instant the wall clock reads that local time or later*:
  a handoff inside a spring-forward gap (02:30 on the night clocks jump 02:00 → 03:00) happens when
  the clocks jump; one inside a repeated fall-back hour happens at its first occurrence. Handoff
  instants therefore never go backwards; two that fall into the same gap coincide and the shift
  between them is skipped;
- the person on call at instant t is m[k mod N] for the largest k whose handoff is at or before t,
  i.e. k = floor((W(t) - anchor) / period) with W(t) the latest wall-clock reading up to t (W(t) is
  t's local time except during a repeated hour, where the clock "re-reads" times it already showed).
  Floor division makes anchors in the future work (negative k), and nothing jumps at ISO week 53.

A schedule in `UTC` therefore rotates every `period` of absolute time.

**Overrides** replace the rotation's person on [from, to); they may cover part of a shift, span
handoffs, or sit back to back, but two overrides of one schedule never overlap. A rotation shift that
an override cuts is reported in pieces, so every instant belongs to exactly one `OnCallShift`.

**Escalation.** A policy has levels L1, L2, … each paging a schedule's on-call person (or named
people) `after` a delay from the moment the incident opened. The ladder runs until the incident is
acknowledged or every pending approval has a verdict; the workflow drives it with timers using
`escalation_plan`, `steps_to_page` and `next_wake`.

All returned instants are in UTC: Python compares and subtracts two datetimes that share a `ZoneInfo`
by their wall-clock fields, which is wrong across a DST change; convert with `schedule.tz` to show them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

ONCALL_FILE = "oncall.yaml"  # under Settings.config_dir; load with domain.settings.load_yaml(path, OncallFile)

MIN_PERIOD = timedelta(minutes=1)
_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- parsing helpers ---------------------------------------------------------------------------------

_COMPACT = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def parse_duration(text: str) -> timedelta:
    """`15m`, `12h`, `1d`, `2w`, `1d12h` or ISO-8601 `PT15M`, `P7D`, `P1W`, `P1DT12H` as a timedelta."""
    raw = text.strip()
    match = _ISO.match(raw.upper()) if raw[:1] in {"P", "p"} else _COMPACT.match(raw.lower())
    if raw in {"", "P", "p"} or match is None:
        if raw[:1] in {"P", "p"} and re.search(r"\d+[YM]", raw.upper().split("T")[0]):
            raise ValueError(f"{text!r}: years and months have no fixed length; use days or weeks")
        raise ValueError(f"{text!r} is not a duration; write e.g. 15m, 12h, 1d, 2w, 1d12h or ISO-8601 PT15M, P7D")
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """A compact duration (`1w`, `1d12h`, `15m`, `0m`), the inverse of `parse_duration` for whole seconds."""
    total = int(delta.total_seconds())
    if total == 0:
        return "0m"
    sign, total = ("-", -total) if total < 0 else ("", total)
    out = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            out.append(f"{count}{unit}")
    return sign + "".join(out)


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A bare number is ambiguous (seconds? minutes?): make the author say.
        raise ValueError(f"{value!r} has no unit; write e.g. 15m, 12h, 1d or 7d")
    return value


_HANDOFF = re.compile(
    r"^(?:(?P<daily>daily)|weekly on (?P<day>"
    + "|".join(_WEEKDAYS)
    + r")s?) at (?P<hh>[01]?\d|2[0-3]):(?P<mm>[0-5]\d)$"
)


class Handoff(_Model):
    """The `handoff` shorthand parsed: a daily or weekly handoff at a local time."""

    weekday: int | None  # 0 = Monday; None = daily
    at: time

    @property
    def unit(self) -> timedelta:
        return timedelta(days=1 if self.weekday is None else 7)


def parse_handoff(text: str) -> Handoff:
    """`daily at 09:00` or `weekly on monday at 09:00` (local time in the schedule's zone)."""
    match = _HANDOFF.match(" ".join(text.lower().split()))
    if match is None:
        raise ValueError(f"{text!r}: write `daily at HH:MM` or `weekly on <weekday> at HH:MM`")
    weekday = None if match["daily"] else _WEEKDAYS.index(match["day"])
    return Handoff(weekday=weekday, at=time(int(match["hh"]), int(match["mm"])))


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or a ValueError that says it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC") from exc


def _aware(at: datetime, what: str = "at") -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {at.isoformat()}")
    return at.astimezone(UTC)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def local_instant(local: datetime, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) at which `tz`'s wall clock reads `local` or later.

    An ordinary local time maps to its instant; a repeated (fall-back) one to its first occurrence; one
    skipped by a spring-forward gap to the moment the clocks jumped. The mapping never goes backwards.
    """
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == local:
        return first
    # In a gap: fold=1 uses the offset after the jump (before the transition instant), fold=0 the offset
    # before it (after the transition). Bisect between them for the jump itself.
    lo, hi = local.replace(tzinfo=tz, fold=1).astimezone(UTC), first
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > timedelta(microseconds=1):
        mid = lo + (hi - lo) // 2
        if _wall(mid, tz) >= local:
            hi = mid
        else:
            lo = mid
    return hi


# --- configuration models ----------------------------------------------------------------------------


class Person(_Model):
    """Someone who can be paged; the contact fields are for the notification channels."""

    name: str = ""
    email: str | None = None
    slack: str | None = None  # Slack member id (U…)
    phone: str | None = None
    pagerduty: str | None = None  # PagerDuty user id


class Override(_Model):
    """`who` is on call instead of the rotation's person on [from, to)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    who: str = Field(min_length=1)
    start: datetime = Field(alias="from")  # aware, or local in the schedule's zone; stored as UTC
    end: datetime = Field(alias="to")
    reason: str = ""


class Schedule(_Model):
    """A rotation: members take turns of `period`, starting with members[0] at `anchor` (local time)."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    timezone: str
    members: list[str] = Field(min_length=1)
    # Both optional in the file: `handoff: weekly on monday at 09:00` implies `period: 7d`. After
    # validation `period` is always set and `anchor` is the naive local date-time of handoff 0.
    period: timedelta | None = None
    handoff: str | None = None
    anchor: datetime | date
    overrides: list[Override] = Field(default_factory=list)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("members")
    @classmethod
    def _member_names(cls, value: list[str]) -> list[str]:
        blank = [i for i, m in enumerate(value) if not m.strip()]
        if blank:
            raise ValueError(f"member {blank[0]} is blank")
        return value

    @field_validator("period", mode="before")
    @classmethod
    def _parse_period(cls, value: Any) -> Any:
        return _duration(value)

    @field_validator("period")
    @classmethod
    def _positive_period(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < MIN_PERIOD:
            raise ValueError(f"period must be at least {format_duration(MIN_PERIOD)}, got {value}")
        return value

    @field_validator("handoff")
    @classmethod
    def _parse_handoff(cls, value: str | None) -> str | None:
        if value is not None:
            parse_handoff(value)
        return value

    @field_validator("anchor", mode="before")
    @classmethod
    def _date_only_anchor(cls, value: Any) -> Any:
        # pydantic reads "2026-01-05" as midnight; keep it a date so `handoff` can supply the time.
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            return date.fromisoformat(value.strip())
        return value

    @field_validator("overrides")
    @classmethod
    def _localize_overrides(cls, value: list[Override], info: ValidationInfo) -> list[Override]:
        name = info.data.get("timezone")
        if name is None:  # the zone itself is invalid and already reported
            return value
        tz = ZoneInfo(name)
        placed: list[tuple[int, Override]] = []
        for i, override in enumerate(value):
            start = _to_utc(override.start, tz)
            end = _to_utc(override.end, tz)
            if end <= start:
                raise ValueError(
                    f"override {i} ({override.who}): `to` {override.end} is not after `from` {override.start}"
                )
            placed.append((i, override.model_copy(update={"start": start, "end": end})))
        placed.sort(key=lambda item: item[1].start)
        for (i, a), (j, b) in pairwise(placed):
            if b.start < a.end:
                raise ValueError(
                    f"overrides {i} ({a.who} {a.start.isoformat()} → {a.end.isoformat()}) and {j} "
                    f"({b.who} {b.start.isoformat()} → {b.end.isoformat()}) overlap"
                )
        return [o for _, o in placed]

    @model_validator(mode="after")
    def _resolve_period_and_anchor(self) -> Schedule:
        tz = ZoneInfo(self.timezone)
        handoff = parse_handoff(self.handoff) if self.handoff is not None else None
        anchor = self.anchor
        if isinstance(anchor, datetime):
            anchor_local = _wall(anchor, tz) if anchor.tzinfo is not None else anchor
        else:
            anchor_local = datetime.combine(anchor, handoff.at if handoff else time(0))
        if handoff is None:
            if self.period is None:
                raise ValueError("set `period` (e.g. 7d, 12h) or `handoff` (e.g. weekly on monday at 09:00)")
        else:
            if self.period is None:
                self.period = handoff.unit
            elif self.period % handoff.unit:
                raise ValueError(
                    f"period {format_duration(self.period)} is not a whole number of "
                    f"{'days' if handoff.weekday is None else 'weeks'}, as handoff {self.handoff!r} needs"
                )
            if anchor_local.time() != handoff.at:
                raise ValueError(
                    f"anchor {anchor_local.isoformat()} is at {anchor_local:%H:%M} local time but handoff "
                    f"{self.handoff!r} is at {handoff.at:%H:%M}; give the anchor as a date or fix its time"
                )
            if handoff.weekday is not None and anchor_local.weekday() != handoff.weekday:
                raise ValueError(
                    f"anchor {anchor_local.date().isoformat()} is a {_WEEKDAYS[anchor_local.weekday()]} but "
                    f"handoff {self.handoff!r} is on {_WEEKDAYS[handoff.weekday]}"
                )
        self.anchor = anchor_local
        return self

    @property
    def anchor_local(self) -> datetime:
        """Handoff 0 as a naive local date-time in the schedule's zone."""
        assert isinstance(self.anchor, datetime)  # normalized by the validator
        return self.anchor

    @property
    def turn(self) -> timedelta:
        """The rotation period (wall-clock)."""
        assert self.period is not None  # normalized by the validator
        return self.period


def _to_utc(value: datetime, tz: ZoneInfo) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else local_instant(value, tz)


class EscalationLevel(_Model):
    """One rung: page `schedule`'s on-call person, or the named `users`, `after` the incident opened."""

    after: timedelta
    schedule: str | None = None
    users: list[str] = Field(default_factory=list)

    @field_validator("after", mode="before")
    @classmethod
    def _parse_after(cls, value: Any) -> Any:
        return _duration(value)

    @field_validator("after")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("after must not be negative")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> EscalationLevel:
        if (self.schedule is None) == (not self.users):
            raise ValueError("a level pages either a `schedule` or a list of `users` (exactly one of them)")
        return self


class EscalationPolicy(_Model):
    """Levels L1, L2, … in order; each pages no earlier than the one before."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    levels: list[EscalationLevel] = Field(min_length=1)

    @field_validator("levels")
    @classmethod
    def _in_time_order(cls, value: list[EscalationLevel]) -> list[EscalationLevel]:
        for n, (a, b) in enumerate(pairwise(value), start=1):
            if b.after < a.after:
                raise ValueError(
                    f"L{n + 1} (after {format_duration(b.after)}) would page before L{n} "
                    f"(after {format_duration(a.after)}); levels escalate in time order"
                )
        return value


class RoutingRule(_Model):
    """Incidents of this workspace and/or service use `policy`."""

    workspace: str | None = None
    service: str | None = None
    policy: str

    @model_validator(mode="after")
    def _matches_something(self) -> RoutingRule:
        if self.workspace is None and self.service is None:
            raise ValueError("a routing rule needs a `workspace`, a `service` or both (use `default` for the rest)")
        return self


class Routing(_Model):
    """Which escalation policy an incident uses: the most specific rule, else `default`.

    Specificity: workspace and service > service alone > workspace alone > default.
    """

    default: str | None = None
    rules: list[RoutingRule] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _no_duplicates(cls, value: list[RoutingRule]) -> list[RoutingRule]:
        seen: dict[tuple[str | None, str | None], int] = {}
        for i, rule in enumerate(value):
            key = (rule.workspace, rule.service)
            if key in seen:
                raise ValueError(f"rules {seen[key]} and {i} both match workspace={key[0]} service={key[1]}")
            seen[key] = i
        return value


class OncallFile(_Model):
    """config/oncall.yaml: people, schedules, escalation policies and their routing."""

    # Optional directory; when present, every member, override and level user must be listed here.
    people: dict[str, Person] = Field(default_factory=dict)
    schedules: list[Schedule] = Field(default_factory=list)
    escalation_policies: list[EscalationPolicy] = Field(default_factory=list)
    routing: Routing = Field(default_factory=Routing)

    @field_validator("schedules")
    @classmethod
    def _schedules(cls, value: list[Schedule], info: ValidationInfo) -> list[Schedule]:
        _unique("schedule", [s.name for s in value])
        people = info.data.get("people") or {}
        if people:
            for s in value:
                for who in [*s.members, *(o.who for o in s.overrides)]:
                    if who not in people:
                        raise ValueError(f"schedule {s.name}: {who!r} is not in `people`")
        return value

    @field_validator("escalation_policies")
    @classmethod
    def _policies(cls, value: list[EscalationPolicy], info: ValidationInfo) -> list[EscalationPolicy]:
        _unique("escalation policy", [p.name for p in value])
        schedules = info.data.get("schedules")
        people = info.data.get("people") or {}
        for policy in value:
            for n, level in enumerate(policy.levels, start=1):
                if level.schedule is not None and schedules is not None:
                    known = [s.name for s in schedules]
                    if level.schedule not in known:
                        raise ValueError(
                            f"policy {policy.name} L{n}: unknown schedule {level.schedule!r}; "
                            f"known: {', '.join(known) or '(none)'}"
                        )
                for user in level.users:
                    if people and user not in people:
                        raise ValueError(f"policy {policy.name} L{n}: {user!r} is not in `people`")
        return value

    @model_validator(mode="after")
    def _routing_targets(self) -> OncallFile:
        known = [p.name for p in self.escalation_policies]
        if len(known) > 1 and self.routing.default is None:
            raise ValueError(f"routing.default: name the default escalation policy (one of {', '.join(known)})")
        named = [("routing.default", self.routing.default)] + [
            (f"routing.rules.{i}.policy", r.policy) for i, r in enumerate(self.routing.rules)
        ]
        for key, name in named:
            if name is not None and name not in known:
                raise ValueError(f"{key}: unknown escalation policy {name!r}; known: {', '.join(known) or '(none)'}")
        return self

    def schedule(self, name: str) -> Schedule:
        """The schedule called `name` (KeyError if there is none)."""
        for s in self.schedules:
            if s.name == name:
                return s
        raise KeyError(f"unknown schedule {name!r}")

    def policy(self, name: str) -> EscalationPolicy:
        """The escalation policy called `name` (KeyError if there is none)."""
        for p in self.escalation_policies:
            if p.name == name:
                return p
        raise KeyError(f"unknown escalation policy {name!r}")

    def policy_for(self, *, workspace: str, service: str | None) -> EscalationPolicy | None:
        """The escalation policy for an incident of this workspace and service; None if none is configured."""
        best: tuple[int, RoutingRule] | None = None
        for rule in self.routing.rules:
            if rule.workspace is not None and rule.workspace != workspace:
                continue
            if rule.service is not None and rule.service != service:
                continue
            rank = (2 if rule.service is not None else 0) + (1 if rule.workspace is not None else 0)
            if best is None or rank > best[0]:
                best = (rank, rule)
        if best is not None:
            return self.policy(best[1].policy)
        if self.routing.default is not None:
            return self.policy(self.routing.default)
        return self.escalation_policies[0] if self.escalation_policies else None


def _unique(what: str, names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate {what} names: {', '.join(dupes)}")


# --- who is on call ----------------------------------------------------------------------------------


class OnCallShift(_Model):
    """One uninterrupted stretch of one person on call for a schedule: [starts_at, ends_at), in UTC."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: str
    person: str
    starts_at: datetime
    ends_at: datetime
    source: Literal["rotation", "override"]
    slot: int | None = None  # rotation turn k (handoff k starts it); None for an override
    timezone: str  # the schedule's zone, for showing the times


def handoff_at(schedule: Schedule, k: int) -> datetime:
    """The instant (UTC) of rotation handoff k (k = 0 at the anchor; negative before it)."""
    return local_instant(schedule.anchor_local + k * schedule.turn, schedule.tz)


def rotation_slot(schedule: Schedule, at: datetime) -> int:
    """The rotation turn k in force at `at`, ignoring overrides: the largest k with handoff k ≤ at."""
    t = _aware(at)
    # t's wall-clock reading lags the latest reading so far only inside a repeated hour, so this estimate
    # is at most a few turns off; step to the exact k (handoff instants never go backwards).
    k = (_wall(t, schedule.tz) - schedule.anchor_local) // schedule.turn
    while handoff_at(schedule, k) > t:
        k -= 1
    while handoff_at(schedule, k + 1) <= t:
        k += 1
    return k


def rotation_index(schedule: Schedule, at: datetime) -> int:
    """Index into `members` of the rotation's person at `at`: floor((t - anchor) / period) mod N."""
    return rotation_slot(schedule, at) % len(schedule.members)


def on_call(schedule: Schedule, at: datetime) -> OnCallShift:
    """The shift (rotation or override) that contains `at`."""
    t = _aware(at)
    for o in schedule.overrides:
        if o.start <= t < o.end:
            return OnCallShift(
                schedule=schedule.name,
                person=o.who,
                starts_at=o.start,
                ends_at=o.end,
                source="override",
                timezone=schedule.timezone,
            )
    k = rotation_slot(schedule, t)
    start, end = handoff_at(schedule, k), handoff_at(schedule, k + 1)
    # Overrides are sorted and disjoint and none contains t: clip the turn to the gap between them.
    for o in schedule.overrides:
        if start < o.end <= t:
            start = o.end
        if t < o.start < end:
            end = o.start
    return OnCallShift(
        schedule=schedule.name,
        person=schedule.members[k % len(schedule.members)],
        starts_at=start,
        ends_at=end,
        source="rotation",
        slot=k,
        timezone=schedule.timezone,
    )


def next_shift(schedule: Schedule, at: datetime) -> OnCallShift:
    """The shift that follows the one containing `at` (it may be the same person again)."""
    return on_call(schedule, on_call(schedule, at).ends_at)


def iter_shifts(schedule: Schedule, start: datetime) -> Iterator[OnCallShift]:
    """Every shift from the one containing `start` onwards, in order, without gaps (endless)."""
    shift = on_call(schedule, start)
    while True:
        yield shift
        shift = on_call(schedule, shift.ends_at)


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[OnCallShift]:
    """The whole shifts that overlap [start, end), in order (not clipped: for calendar export)."""
    stop = _aware(end, "end")
    if stop <= _aware(start, "start"):
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    out: list[OnCallShift] = []
    for shift in iter_shifts(schedule, start):
        if shift.starts_at >= stop:
            break
        out.append(shift)
    return out


class HandoffEvent(_Model):
    """The on-call person of a schedule changes from `outgoing` to `incoming` at `at`."""

    schedule: str
    at: datetime
    outgoing: OnCallShift
    incoming: OnCallShift


def next_handoff(schedule: Schedule, at: datetime, *, horizon: timedelta = timedelta(days=366)) -> HandoffEvent | None:
    """The next time after `at` that a different person takes over, within `horizon`; else None."""
    limit = _aware(at) + horizon
    current = on_call(schedule, at)
    for shift in iter_shifts(schedule, current.ends_at):
        if shift.starts_at > limit:
            return None
        if shift.person != current.person:
            return HandoffEvent(schedule=schedule.name, at=shift.starts_at, outgoing=current, incoming=shift)
        current = shift
    return None  # pragma: no cover - iter_shifts is endless


def who_is_on_call(config: OncallFile, at: datetime, *, schedules: Sequence[str] | None = None) -> list[OnCallShift]:
    """PagerDuty-style "who is on call at T": the shift in force for each schedule (file order)."""
    wanted = [config.schedule(n) for n in schedules] if schedules is not None else config.schedules
    return [on_call(s, at) for s in wanted]


# --- the escalation ladder ---------------------------------------------------------------------------


class EscalationStep(_Model):
    """Level `level` (1 = L1) of a policy, due at `at`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: int = Field(ge=1)
    at: datetime
    schedule: str | None = None
    users: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return f"L{self.level}"


class PageTarget(_Model):
    """Who level `level` pages at a given time: the schedule's on-call person, or its named users."""

    level: int
    schedule: str | None
    people: list[str]
    shift: OnCallShift | None = None  # the schedule's shift that made `people`


def escalation_plan(policy: EscalationPolicy, opened_at: datetime) -> list[EscalationStep]:
    """The ladder for an incident opened at `opened_at`: one step per level at opened_at + after."""
    start = _aware(opened_at, "opened_at")
    return [
        EscalationStep(level=n, at=start + level.after, schedule=level.schedule, users=list(level.users))
        for n, level in enumerate(policy.levels, start=1)
    ]


def _stopped_at(acknowledged_at: datetime | None, all_verdicts_at: datetime | None) -> datetime | None:
    stops = [_aware(t, "stop time") for t in (acknowledged_at, all_verdicts_at) if t is not None]
    return min(stops) if stops else None


def due_steps(
    plan: Sequence[EscalationStep],
    now: datetime,
    *,
    acknowledged_at: datetime | None = None,
    all_verdicts_at: datetime | None = None,
) -> list[EscalationStep]:
    """The steps that are due by `now` and were not cut off by the ladder stopping.

    The ladder stops at the acknowledgement or when the last pending approval got its verdict
    (`all_verdicts_at`, None while any approval is pending), whichever is first; a step due at or after
    that instant is never paged.
    """
    t = _aware(now, "now")
    stop = _stopped_at(acknowledged_at, all_verdicts_at)
    return [s for s in plan if s.at <= t and (stop is None or s.at < stop)]


def steps_to_page(
    plan: Sequence[EscalationStep],
    paged_levels: Collection[int],
    now: datetime,
    *,
    acknowledged_at: datetime | None = None,
    all_verdicts_at: datetime | None = None,
) -> list[EscalationStep]:
    """The due steps not paged yet: what the workflow pages now (several if it woke late)."""
    due = due_steps(plan, now, acknowledged_at=acknowledged_at, all_verdicts_at=all_verdicts_at)
    return [s for s in due if s.level not in paged_levels]


def next_wake(
    plan: Sequence[EscalationStep],
    paged_levels: Collection[int],
    now: datetime,
    *,
    acknowledged_at: datetime | None = None,
    all_verdicts_at: datetime | None = None,
) -> datetime | None:
    """When the workflow must next wake to page: `now` if a step is already due and unpaged, the next
    step's time otherwise, None when the ladder is done (every level paged, or stopped)."""
    t = _aware(now, "now")
    stop = _stopped_at(acknowledged_at, all_verdicts_at)
    if stop is not None and stop <= t:
        return None
    pending = [s.at for s in plan if s.level not in paged_levels and (stop is None or s.at < stop)]
    return max(min(pending), t) if pending else None


def page_targets(policy: EscalationPolicy, config: OncallFile, at: datetime) -> list[PageTarget]:
    """Each level of `policy` resolved to the people it would page at `at`."""
    out = []
    for n, level in enumerate(policy.levels, start=1):
        if level.schedule is None:
            out.append(PageTarget(level=n, schedule=None, people=list(level.users)))
            continue
        shift = on_call(config.schedule(level.schedule), at)
        out.append(PageTarget(level=n, schedule=level.schedule, people=[shift.person], shift=shift))
    return out


# --- views: the on-call API and the calendar export --------------------------------------------------


def display_name(people: dict[str, Person], who: str) -> str:
    """`who`'s name from the `people` directory, else the key itself."""
    person = people.get(who)
    return person.name if person is not None and person.name.strip() else who


def override_of(schedule: Schedule, shift: OnCallShift) -> Override | None:
    """The override behind an override shift (None for a rotation shift)."""
    if shift.source != "override":
        return None
    # Overrides never overlap, so the start alone identifies the one that made the shift.
    return next((o for o in schedule.overrides if o.start == shift.starts_at and o.who == shift.person), None)


def turn_first_start(schedule: Schedule, slot: int) -> datetime | None:
    """When turn `slot`'s own person first goes on call: its handoff, or the end of the overrides covering
    that; None when overrides (or a DST gap) leave the turn empty."""
    start, end = handoff_at(schedule, slot), handoff_at(schedule, slot + 1)
    # Sorted and disjoint: one pass follows a chain of back-to-back overrides.
    for o in schedule.overrides:
        if o.start <= start < o.end:
            start = o.end
    return start if start < end else None


def handoff_horizon(schedule: Schedule, at: datetime, *, limit: timedelta = timedelta(days=366)) -> timedelta:
    """A horizon for `next_handoff` that gives the same answer as `limit` but walks far fewer turns.

    After the last override still to end, any N consecutive turns show every member, so if nobody else is
    on call within 2N + 2 turns of it, nobody ever is. (Twice N: a spring-forward gap can swallow a run of
    short turns; two days: the wall clock may lag absolute time by up to a day around such a change.)
    Without this a one-person rotation of short turns walks a year of them on every request.
    """
    t = _aware(at)
    last = max((o.end for o in schedule.overrides if o.end > t), default=t)
    bound = (last - t) + (2 * len(schedule.members) + 2) * schedule.turn + timedelta(days=2)
    return min(bound, limit)
