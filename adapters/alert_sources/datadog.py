"""Datadog Webhooks integration: one monitor notification per body, in a user-editable template.

Datadog posts whatever JSON the user typed in the webhook's *Payload* box, with `$VARIABLES` filled
in. The default template is
`{"body": "$EVENT_MSG", "last_updated": "$LAST_UPDATED", "event_type": "$EVENT_TYPE",
"title": "$EVENT_TITLE", "date": "$DATE", "org": {"id": "$ORG_ID", "name": "$ORG_NAME"}, "id": "$ID"}`
(`id` is the *event* id: it changes with every notification). Custom templates add documented variables
(`$AGGREG_KEY`, `$ALERT_ID`, `$ALERT_CYCLE_KEY`, `$ALERT_TRANSITION`, `$ALERT_PRIORITY`, `$TAGS`, ...)
under key names of the user's choosing, so fields are looked up by their *normalized* name: lower case
without `_`/`-` (`alert_cycle_key`, `alertCycleKey` and `ALERT_CYCLE_KEY` are the same), at the top level
or one level down (`"alert": {"cycle_key": ...}` reads as `alertcyclekey`, `"metadata": {"AGGREG_KEY": ...}`
as `aggregkey`). A value Datadog could not fill stays as the literal `"$VARIABLE"`: it counts as missing,
like `""` and the `"null"` Datadog writes for empty incident fields.

Detection: Datadog documents no header of its own (deliveries have been seen with a generic HTTP-library
User-Agent), so a User-Agent naming both "datadog" and "webhook" is accepted, but the shape is what
matters: the default template's keys together (`body`, `title`, `event_type`, `org`, and `date` or
`last_updated`), or at least one Datadog-only variable (`aggreg_key`, `alert_cycle_key`,
`alert_transition`, `alert_scope`, `alert_query`, `alert_metric`, `event_msg`, `text_only_msg`,
`event_title`, `alert_title`, `metric_namespace`) with a second Datadog variable.

Stream key (the monitor alert's identity, equal for Triggered, Re-Triggered, Renotify and Recovered):
1. `$AGGREG_KEY` — Datadog's own aggregation id for the monitor's events;
2. `$ALERT_ID` (the monitor id) + the group (`$ALERT_SCOPE`, else the `{...}` of the title) — so the
   groups of a multi-alert monitor are separate streams, and a recurrence after recovery finds the same
   stream (the workflow links it to the previous incident);
3. `$ALERT_CYCLE_KEY` — stable from trigger to recovery, but new at every trigger after a recovery, so it
   only comes after the two keys that survive a recovery;
4. the monitor id read from the "Monitor Status" link Datadog appends to `$EVENT_MSG` + the title's group
   (this is what the default template offers);
5. a hash of the title without its `[P1] [Triggered on {...}]` prefix, + the group and the service.
Never the event `$ID`.

Lifecycle: `$ALERT_TRANSITION` (else the title's bracket, else an `alert_status` holding a transition
word, else `$ALERT_TYPE`): Triggered, Re-Triggered, Warn, Re-Warn, No Data, Re-No Data, Renotify →
firing; Recovered (or alert type `success`) → resolved. Datadog monitors have no acknowledge.

Severity, first match wins:

| Datadog value                                        | Severity |
|------------------------------------------------------|----------|
| priority `P1` (`$ALERT_PRIORITY`, or `[P1]` in title) | critical |
| priority `P2`                                        | high     |
| priority `P3`                                        | medium   |
| priority `P4`                                        | low      |
| priority `P5`                                        | info     |
| `$ALERT_TYPE` `error`                                | high     |
| `$ALERT_TYPE` `warning`                              | medium   |
| `$ALERT_TYPE` `info` / `success`                     | info     |
| transition Triggered / Re-Triggered / Renotify       | high     |
| transition Warn / Re-Warn / No Data / Re-No Data     | medium   |
| transition Recovered                                 | info     |
| anything else: a free-text `severity` field, else    | medium   |

Service/namespace/pod/deployment come from the tags (`$TAGS` as "k:v, k:v" text, a JSON list or an
object, plus the `$ALERT_SCOPE` group): `service`, `kube_namespace`, `pod_name`, `kube_deployment`;
`env` and every other tag stay labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from adapters.alert_sources.base import (
    bounded_key,
    fallback_key,
    first_text,
    hashed_key,
    normalized_name,
    parse_severity,
    parse_time,
    require_title,
    string_map,
    text_or_none,
)
from domain.models import Alert, Lifecycle, NormalizationError, Severity

PRIORITY_SEVERITY: dict[str, Severity] = {
    "p1": Severity.critical,
    "p2": Severity.high,
    "p3": Severity.medium,
    "p4": Severity.low,
    "p5": Severity.info,
}
ALERT_TYPE_SEVERITY: dict[str, Severity] = {
    "error": Severity.high,
    "warning": Severity.medium,
    "info": Severity.info,
    "success": Severity.info,
}
# Keys are transitions without spaces, dashes or underscores ("Re-No Data" -> "renodata").
TRANSITION_LIFECYCLE: dict[str, Lifecycle] = {
    "triggered": Lifecycle.firing,
    "retriggered": Lifecycle.firing,
    "warn": Lifecycle.firing,
    "rewarn": Lifecycle.firing,
    "nodata": Lifecycle.firing,
    "renodata": Lifecycle.firing,
    "renotify": Lifecycle.firing,
    "recovered": Lifecycle.resolved,
}
TRANSITION_SEVERITY: dict[str, Severity] = {
    "triggered": Severity.high,
    "retriggered": Severity.high,
    "renotify": Severity.high,
    "warn": Severity.medium,
    "rewarn": Severity.medium,
    "nodata": Severity.medium,
    "renodata": Severity.medium,
    "recovered": Severity.info,
}

# Normalized field names (see the module docstring), most specific first.
_AGGREG_KEY = ("aggregkey", "aggregationkey")
_MONITOR_ID = ("alertid", "monitorid")
_CYCLE_KEY = ("alertcyclekey", "cyclekey")
_TRANSITION = ("alerttransition", "transition")
_ALERT_TYPE = ("alerttype",)
_PRIORITY = ("alertpriority", "priority", "severity")
_SCOPE = ("alertscope", "scope")
_TITLE = ("title", "eventtitle", "alerttitle", "monitorname", "name")
_DESCRIPTION = ("body", "eventmsg", "textonlymsg", "textmsg", "message", "text")
_TAGS = ("tags", "alerttags", "eventtags")
_DATE = ("date", "lastupdated", "dateposix", "lastupdatedposix", "timestamp")
_LINK = ("link", "eventurl", "eventlink", "url")
_SNAPSHOT = ("snapshot", "snapshoturl", "imageurl")

# Datadog-only variables: one of them, plus any second Datadog variable, identifies a custom template.
_STRONG = frozenset(
    {
        "aggregkey",
        "alertcyclekey",
        "alerttransition",
        "alertscope",
        "alertquery",
        "alertmetric",
        "eventmsg",
        "textonlymsg",
        "eventtitle",
        "alerttitle",
        "metricnamespace",
    }
)
_WEAK = frozenset(
    {"alertid", "alerttype", "alertpriority", "alertstatus", "eventtype", "lastupdated", "orgid", "orgname"}
)
# Child keys too generic to be read without their parent's name ("org": {"name": ...} is not a title).
_AMBIGUOUS_CHILDREN = frozenset({"id", "name", "title", "type", "status", "message", "text", "url", "date"})

_UNEXPANDED = re.compile(r"\$[A-Z][A-Z0-9_]*(\[[^\]]*\])?")
_BRACKET = re.compile(r"\s*\[([^\[\]]*)\]")
_TRANSITION_TOKEN = re.compile(r"(?P<word>[A-Za-z][A-Za-z _-]*?)(?:\s+on\s+\{(?P<scope>[^{}]*)\})?")
_PRIORITY_TOKEN = re.compile(r"[Pp]([1-5])")
_MONITOR_PATH = re.compile(r"/monitors[/#](\d+)")
_URL_HEAD = re.compile(r"https?://[^\s()\[\]<>\"']*")
_URL_TAIL = re.compile(r"[^\s()\[\]<>\"']*")

_SERVICE_TAGS = ("service", "app", "application")
_NAMESPACE_TAGS = ("kube_namespace", "namespace", "kubernetes_namespace")
_POD_TAGS = ("pod_name", "kube_pod_name", "pod")
_DEPLOYMENT_TAGS = ("kube_deployment", "deployment", "kube_deployment_name")


def _text(value: Any, *, limit: int = 500) -> str | None:
    """A present scalar as text: None for missing, empty, unexpanded "$VARIABLE" and Datadog's "null"."""
    if isinstance(value, bool):
        return None
    text = text_or_none(value, limit=limit)
    if text is None or text.lower() in ("null", "none") or _UNEXPANDED.fullmatch(text):
        return None
    return text


def _index(payload: Mapping[Any, Any]) -> dict[str, Any]:
    """Every field by normalized name: top level first, then parent+child, then the child alone."""
    index: dict[str, Any] = {}
    for key, value in payload.items():
        index.setdefault(normalized_name(key), value)
    nested = [(normalized_name(k), v) for k, v in payload.items() if isinstance(v, dict)]
    for parent, child in nested:
        for key, value in child.items():
            index.setdefault(parent + normalized_name(key), value)
    for _parent, child in nested:
        for key, value in child.items():
            name = normalized_name(key)
            if name not in _AMBIGUOUS_CHILDREN:
                index.setdefault(name, value)
    index.pop("", None)
    return index


def _first(index: Mapping[str, Any], names: tuple[str, ...], *, limit: int = 500) -> str | None:
    return first_text(index, names, limit=limit, read=_text)


def _word(value: str | None) -> str:
    return re.sub(r"[\s_-]", "", value.lower()) if value else ""


def _scope_text(scope: str | None) -> str:
    """A group as sorted "k:v" tags, so "{b:2, a:1}" and "a:1,b:2" are the same group."""
    if not scope:
        return ""
    parts = sorted({p.strip() for p in scope.strip().strip("{}").split(",") if p.strip()})
    return ",".join(parts)


class _Title:
    """An event title split into its Datadog prefix ("[P1] [Triggered on {host:x}]") and the monitor name."""

    def __init__(self, raw: str | None) -> None:
        self.raw = raw
        self.priority: str | None = None
        self.transition: str | None = None
        self.scope: str | None = None
        self.name = raw or ""
        if not raw:
            return
        pos = 0
        while match := _BRACKET.match(raw, pos):
            token = match.group(1).strip()
            priority = _PRIORITY_TOKEN.fullmatch(token)
            transition = _TRANSITION_TOKEN.fullmatch(token)
            if priority:
                self.priority = f"p{priority.group(1)}"
            elif transition and _word(transition.group("word")) in TRANSITION_LIFECYCLE:
                self.transition = transition.group("word")
                self.scope = transition.group("scope")
            elif token:  # "[Synthetics]", "[prod]": part of the monitor's name
                break
            pos = match.end()
        self.name = raw[pos:].strip() or raw.strip()


class DatadogSource:
    slug = "datadog"

    def detect(self, payload: Any, headers: Mapping[str, str]) -> bool:
        if not isinstance(payload, dict):
            return False
        agent = str(headers.get("user-agent", "")).lower()
        if "datadog" in agent and "webhook" in agent:
            return True
        keys = {k for k in payload if isinstance(k, str)}
        if {"body", "title", "event_type", "org"} <= keys and keys & {"date", "last_updated"}:
            return True
        index = _index(payload)
        strong = len(_STRONG & index.keys())
        return strong >= 2 or (strong == 1 and bool(_WEAK & index.keys()))

    def split(self, payload: Any) -> list[Any]:
        return [payload]  # Datadog sends one notification per request

    def lifecycle(self, item: Any) -> Lifecycle:
        transition, alert_type = self._transition(item)
        if transition in TRANSITION_LIFECYCLE:
            return TRANSITION_LIFECYCLE[transition]
        if alert_type == "success":
            return Lifecycle.resolved
        return Lifecycle.firing

    def stream_key(self, item: Any) -> str:
        if not isinstance(item, dict):
            return bounded_key(self.slug, fallback_key(item))
        index = _index(item)
        identity = self._identity(index)
        if identity:
            return bounded_key(self.slug, identity)
        title = _Title(_first(index, _TITLE))
        group = _scope_text(_first(index, _SCOPE)) or _scope_text(title.scope)
        return bounded_key(self.slug, hashed_key(title.name, group, self._service(index, self._labels(index))))

    def normalize(self, item: Any) -> Alert:
        if not isinstance(item, dict):
            raise NormalizationError(
                f"not a Datadog webhook body: expected the JSON object of the webhook's payload, got {type(item).__name__}"
            )
        index = _index(item)
        title = _Title(_first(index, _TITLE))
        name = require_title(title.name or None)
        scope = _first(index, _SCOPE) or title.scope
        group = _scope_text(scope)
        labels = self._labels(index)
        hostname = _first(index, ("hostname", "host"))
        if hostname:
            labels.setdefault("host", hostname)
        lifecycle = self.lifecycle(item)
        when = parse_time(_first(index, _DATE))
        transition, alert_type = self._transition(item)
        return Alert(
            source=self.slug,
            title=f"{name} ({group})" if group and group not in name else name,
            description=self._description(index),
            severity=self._severity(index, title, transition, alert_type),
            lifecycle=lifecycle,
            service=self._service(index, labels),
            namespace=_first(index, ("namespace", "kubenamespace")) or _tag(labels, _NAMESPACE_TAGS),
            pod=_first(index, ("pod", "podname")) or _tag(labels, _POD_TAGS),
            deployment=_first(index, ("deployment", "kubedeployment")) or _tag(labels, _DEPLOYMENT_TAGS),
            labels=labels,
            annotations=self._annotations(index, title, scope),
            links=self._links(index),
            fingerprint=self._identity(index),
            started_at=when if lifecycle is not Lifecycle.resolved else None,
            ended_at=when if lifecycle is Lifecycle.resolved else None,
        )

    # --- reading the body -------------------------------------------------------------------------

    @staticmethod
    def _transition(item: Any) -> tuple[str, str]:
        """(transition word, alert type), both normalized; empty when unknown."""
        if not isinstance(item, dict):
            return "", ""
        index = _index(item)
        alert_type = _word(_first(index, _ALERT_TYPE))
        for candidate in (_first(index, _TRANSITION), _Title(_first(index, _TITLE)).transition):
            if _word(candidate) in TRANSITION_LIFECYCLE:
                return _word(candidate), alert_type
        # Some templates put $ALERT_TRANSITION under "alert_status" (whose own variable is a summary sentence).
        status = _word(_first(index, ("alertstatus", "status")))
        if status in TRANSITION_LIFECYCLE:
            return status, alert_type
        return "", alert_type

    @staticmethod
    def _identity(index: Mapping[str, Any]) -> str | None:
        aggreg = _first(index, _AGGREG_KEY)
        if aggreg:
            return aggreg
        title = _Title(_first(index, _TITLE))
        group = _scope_text(_first(index, _SCOPE)) or _scope_text(title.scope)
        monitor = _first(index, _MONITOR_ID)
        if monitor:
            return f"monitor-{monitor}/{group}" if group else f"monitor-{monitor}"
        cycle = _first(index, _CYCLE_KEY)
        if cycle:
            return f"cycle-{cycle}"
        link = _monitor_link(_first(index, _DESCRIPTION, limit=20_000) or "")
        if link:
            url, monitor = link
            if not group:
                found = re.search(r"[?&]group=([^&#]+)", url)
                group = _scope_text(unquote(found.group(1))) if found else ""
            return f"monitor-{monitor}/{group}" if group else f"monitor-{monitor}"
        return None

    @staticmethod
    def _labels(index: Mapping[str, Any]) -> dict[str, str]:
        labels: dict[str, str] = {}
        for name in _TAGS:
            tags = index.get(name)
            if isinstance(tags, str) and not _UNEXPANDED.fullmatch(tags.strip()):
                tags = [t.strip() for t in tags.split(",") if t.strip()]
            if isinstance(tags, list | dict) and tags:
                labels = string_map(tags)
                break
        # The group that triggered ("host:web-1,service:checkout") is the most specific: it wins.
        scope = _first(index, _SCOPE) or _Title(_first(index, _TITLE)).scope
        if scope:
            labels |= string_map([p.strip() for p in scope.strip("{}").split(",") if p.strip()])
        return labels

    @staticmethod
    def _service(index: Mapping[str, Any], labels: Mapping[str, str]) -> str | None:
        return _first(index, ("service", "servicename")) or _tag(labels, _SERVICE_TAGS)

    @staticmethod
    def _severity(index: Mapping[str, Any], title: _Title, transition: str, alert_type: str) -> Severity:
        for name in _PRIORITY:
            value = _text(index.get(name))
            if value and _word(value) in PRIORITY_SEVERITY:
                return PRIORITY_SEVERITY[_word(value)]
            if value and value.isdecimal() and f"p{value.lstrip('0')}" in PRIORITY_SEVERITY:
                return PRIORITY_SEVERITY[f"p{value.lstrip('0')}"]
        if title.priority:
            return PRIORITY_SEVERITY[title.priority]
        if alert_type in ALERT_TYPE_SEVERITY:
            return ALERT_TYPE_SEVERITY[alert_type]
        if transition in TRANSITION_SEVERITY:
            return TRANSITION_SEVERITY[transition]
        # "priority" may also be $PRIORITY, the event priority ("normal"/"low"): not a severity.
        return parse_severity(_first(index, ("severity",)))

    @staticmethod
    def _description(index: Mapping[str, Any]) -> str:
        text = _first(index, _DESCRIPTION, limit=10_000) or ""
        # $EVENT_MSG wraps Datadog markdown in "%%%" fences.
        text = text.removeprefix("%%%").removesuffix("%%%").strip()
        if not text:
            status = _first(index, ("alertstatus",))
            if status and _word(status) not in TRANSITION_LIFECYCLE:
                text = status
        return text

    @staticmethod
    def _annotations(index: Mapping[str, Any], title: _Title, scope: str | None) -> dict[str, str]:
        fields = {
            "transition": _first(index, _TRANSITION) or title.transition,
            "alert_type": _first(index, _ALERT_TYPE),
            "priority": _first(index, ("alertpriority",)) or (title.priority.upper() if title.priority else None),
            "event_type": _first(index, ("eventtype",)),
            "event_id": _first(index, ("id", "eventid")),
            "monitor_id": _first(index, _MONITOR_ID),
            "aggreg_key": _first(index, _AGGREG_KEY),
            "cycle_key": _first(index, _CYCLE_KEY),
            "scope": scope,
            "query": _first(index, ("alertquery", "query"), limit=2000),
            "metric": _first(index, ("alertmetric", "metric")),
            "status": _first(index, ("alertstatus",), limit=2000),
            "org": _first(index, ("orgname",)),
            "org_id": _first(index, ("orgid",)),
            "user": _first(index, ("user", "username", "email")),
            "title": title.raw,
        }
        return {k: v for k, v in fields.items() if v}

    @staticmethod
    def _links(index: Mapping[str, Any]) -> dict[str, str]:
        links: dict[str, str] = {}
        event = _first(index, _LINK, limit=2000)
        if event:
            links["datadog"] = event
        snapshot = _first(index, _SNAPSHOT, limit=2000)
        if snapshot:
            links["image"] = snapshot
        monitor = _monitor_link(_first(index, _DESCRIPTION, limit=20_000) or "")
        if monitor:
            links["monitor"] = monitor[0]
        runbook = _first(index, ("runbook", "runbookurl"), limit=2000)
        if runbook:
            links["runbook"] = runbook
        return links


def _monitor_link(text: str) -> tuple[str, str] | None:
    """The first Datadog monitor URL in a message and its monitor id (linear: no regex backtracking)."""
    for count, found in enumerate(_MONITOR_PATH.finditer(text)):
        if count >= 50:
            break
        start = text.rfind("http", max(0, found.start() - 2048), found.start())
        if start < 0 or not _URL_HEAD.fullmatch(text, start, found.start()):
            continue
        tail = _URL_TAIL.match(text, found.end())
        return text[start : tail.end() if tail else found.end()], found.group(1)
    return None


def _tag(labels: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((labels[n] for n in names if labels.get(n)), None)
