"""New Relic alert notifications: Workflows webhooks (issues) and the legacy incident webhook.

**Workflows** post one *issue* per request, rendered from a Handlebars template the user may edit. The
default template gives `{"id": issueId, "issueUrl", "title", "priority", "impactedEntities": [...],
"totalIncidents", "state", "trigger", "isCorrelated", "createdAt", "updatedAt", "sources",
"alertPolicyNames", "alertConditionNames", "workflowName"}`; edited templates rename or drop keys, add raw
variables (`issueId`, `issueTitle`, `issuePageUrl`, `issueAckUrl`, `accumulations`, `entitiesData`,
`annotations`, `labels`, `violationChartUrl`, ...) and render lists as JSON arrays or as text. Keys are
therefore read by their normalized name (lower case without `_`/`-`), lists and strings alike.

The **legacy** channel webhook (Alerts "notification channels", still sent by migration-frozen policies)
posts `{"incident_id", "current_state": open|acknowledged|closed, "event_type", "condition_name",
"policy_name", "details", "severity", "targets": [{"name", "labels", ...}], "timestamp", "incident_url",
...}`. Some teams' workflow templates mimic it (`incident_id`, `current_state`), so both vocabularies are
read by the same code.

Detection (New Relic documents no header of its own): at least three Workflows keys (`issueUrl`,
`issuePageUrl`, `issueId`, `issueTitle`, `impactedEntities`, `totalIncidents`, `isCorrelated`,
`alertPolicyNames`, `alertConditionNames`, `workflowName`, `accumulations`, `entitiesData`, `triggerEvent`,
...), or at least three legacy keys (`incident_acknowledge_url`, `current_state`, `condition_name`,
`condition_id`, `condition_family_id`, `policy_name`, `policy_url`, `violation_callback_url`,
`violation_chart_url`, `incident_url`, `timestamp_utc_string`, ...), or two of either with a link to a
`newrelic.com` page.

Stream key: the issue id (`issueId`/`id`) or the legacy `incident_id` — stable across every state of that
issue/incident; else a hash of the title and the service.

Lifecycle: the issue `state` (legacy `current_state`), refined by the Workflows `trigger`:

| state / trigger                                                      | lifecycle    |
|----------------------------------------------------------------------|--------------|
| state CLOSED / closed, or trigger CLOSE_INACTIVE / CLOSE_TTL          | resolved     |
| trigger INCIDENT_ADDED (a new incident joined the open issue)         | firing       |
| trigger PRIORITY_CHANGED, MERGE_REQUEST, INCIDENT_CLOSED (one of several incidents closed), OTHER_UPDATES | updated |
| trigger USER_ACTION on an ACKNOWLEDGED issue (the acknowledgement itself) | acknowledged |
| trigger USER_ACTION otherwise                                         | updated      |
| state ACKNOWLEDGED / acknowledged                                     | acknowledged |
| state CREATED / ACTIVATED / open (trigger STATE_CHANGE or none)       | firing       |
| no state: legacy `event_type` INCIDENT_OPEN / _ACKNOWLEDGED / _CLOSED | as named     |
| anything else                                                        | firing       |

Severity, from the Workflows `priority` or the legacy `severity`:

| New Relic value     | Severity |
|---------------------|----------|
| CRITICAL            | critical |
| HIGH                | high     |
| MEDIUM              | medium   |
| LOW                 | low      |
| WARNING (legacy)    | medium   |
| INFO (legacy)       | info     |
| anything else       | `parse_severity` of the text, else medium |

Service: a `service` field or label, else the `affectedService` tag, else the first impacted entity
(Workflows) or target (legacy) name. Namespace/pod/deployment come from labels such as
`k8s.namespaceName`, `k8s.podName`, `k8s.deploymentName` (workflow `labels`, legacy target labels).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from adapters.alert_sources.base import (
    bounded_key,
    fallback_key,
    first_text,
    hashed_key,
    normalized_name,
    parse_severity,
    parse_time,
    require_title,
    text_or_none,
)
from domain.models import Alert, Lifecycle, NormalizationError, Severity

SEVERITY: dict[str, Severity] = {
    "critical": Severity.critical,
    "high": Severity.high,
    "medium": Severity.medium,
    "low": Severity.low,
    "warning": Severity.medium,
    "info": Severity.info,
}
STATE_LIFECYCLE: dict[str, Lifecycle] = {
    "created": Lifecycle.firing,
    "activated": Lifecycle.firing,
    "active": Lifecycle.firing,
    "open": Lifecycle.firing,
    "opened": Lifecycle.firing,
    "acknowledged": Lifecycle.acknowledged,
    "closed": Lifecycle.resolved,
    "resolved": Lifecycle.resolved,
}
_CLOSING_TRIGGERS = frozenset({"closeinactive", "closettl"})
_UPDATE_TRIGGERS = frozenset({"prioritychanged", "mergerequest", "incidentclosed", "otherupdates", "useraction"})
_LEGACY_EVENTS: dict[str, Lifecycle] = {
    "incidentopen": Lifecycle.firing,
    "incidentopened": Lifecycle.firing,
    "incidentacknowledged": Lifecycle.acknowledged,
    "incidentclosed": Lifecycle.resolved,
    "incidentresolved": Lifecycle.resolved,
}

_WORKFLOW_KEYS = frozenset(
    {
        "issueUrl",
        "issuePageUrl",
        "issueId",
        "issueTitle",
        "issueAckUrl",
        "issueCloseUrl",
        "issueDurationMs",
        "impactedEntities",
        "impactedEntitiesCount",
        "totalIncidents",
        "isCorrelated",
        "alertPolicyNames",
        "alertConditionNames",
        "workflowName",
        "accumulations",
        "entitiesData",
        "triggerEvent",
        "violationChartUrl",
        "mutingState",
    }
)
_LEGACY_KEYS = frozenset(
    {
        "incident_acknowledge_url",
        "current_state",
        "condition_name",
        "condition_id",
        "condition_family_id",
        "policy_name",
        "policy_url",
        "violation_callback_url",
        "violation_chart_url",
        "incident_url",
        "incident_readable_id",
        "timestamp_utc_string",
        "open_violations_count",
        "closed_violations_count",
    }
)
_UNFILLED = re.compile(r"\$[A-Z][A-Z0-9_]*")
_NEWRELIC_URL = re.compile(r"https?://([a-z0-9-]+\.)*newrelic\.com(/|$)", re.IGNORECASE)

# Normalized names, most specific first.
_ID = ("issueid", "id", "incidentid")
_STATE = ("state", "currentstate", "issuestate", "statetext")
_TRIGGER = ("trigger", "triggerevent")
_TITLE = ("title", "issuetitle")
_SERVICE = ("service", "servicename", "affectedservice")
_NAMESPACE = ("namespace", "k8snamespacename", "k8snamespace", "namespacename", "kubernetesnamespace")
_POD = ("pod", "podname", "k8spodname", "k8spod")
_DEPLOYMENT = ("deployment", "deploymentname", "k8sdeploymentname", "k8sdeployment")


def _text(value: Any, *, limit: int = 500) -> str | None:
    """A present scalar as text (the first one of a list, or of a JSON list rendered as text); None for
    missing, empty and booleans."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]") and len(value) < 100_000:
        with contextlib.suppress(ValueError, RecursionError):  # "[P1] disk full" is text, not a list
            value = json.loads(value)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool):
        return None
    text = text_or_none(value, limit=limit)
    if text is None or text.lower() in ("null", "none", "undefined") or _UNFILLED.fullmatch(text):
        return None  # "$INCIDENT_ID": a legacy custom-payload variable New Relic did not fill
    return text


def _texts(value: Any, *, limit: int = 500) -> list[str]:
    """A JSON list, a JSON list rendered as text, or "a, b" text, as a list of present strings."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and len(stripped) < 100_000:
            try:
                value = json.loads(stripped)
            except (ValueError, RecursionError):
                value = [p.strip().strip("\"'") for p in stripped.strip("[]").split(",")]
        else:
            value = [p.strip() for p in stripped.split(",")]
    if not isinstance(value, list):
        value = [value]
    out: list[str] = []
    for entry in value:
        if isinstance(entry, dict):
            entry = entry.get("name")
        text = _text(entry, limit=limit)
        if text and text not in out:
            out.append(text)
    return out


def _index(payload: Mapping[Any, Any]) -> dict[str, Any]:
    """Top-level fields by normalized name, then the fields of nested objects (accumulations.tag.*, ...)."""
    index: dict[str, Any] = {}
    for key, value in payload.items():
        index.setdefault(normalized_name(key), value)
    for parent, child in list(index.items()):
        if isinstance(child, dict):
            for key, value in child.items():
                index.setdefault(parent + normalized_name(key), value)
    index.pop("", None)
    return index


def _first(index: Mapping[str, Any], names: tuple[str, ...], *, limit: int = 500) -> str | None:
    return first_text(index, names, limit=limit, read=_text)


def _word(value: str | None) -> str:
    return normalized_name(value) if value else ""


def _flat_labels(value: Any) -> dict[str, str]:
    """Labels whose values may be scalars or lists of scalars (New Relic's labels.* are lists)."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key, entry in value.items():
            texts = _texts(entry) if isinstance(entry, list) else [t] if (t := _text(entry)) else []
            if texts:
                out[str(key)[:200]] = ",".join(texts)[:500]
    elif isinstance(value, list):
        for entry in value:
            if isinstance(entry, str) and entry.strip():
                key, sep, val = entry.partition(":")
                out[key.strip()] = val.strip() if sep else ""
    return out


class NewRelicSource:
    slug = "newrelic"

    def detect(self, payload: Any, headers: Mapping[str, str]) -> bool:
        if not isinstance(payload, dict):
            return False
        keys = {k for k in payload if isinstance(k, str)}
        workflow = len(keys & _WORKFLOW_KEYS)
        legacy = len(keys & _LEGACY_KEYS)
        if workflow >= 3 or legacy >= 3:
            return True
        if max(workflow, legacy) < 2:
            return False
        return any(isinstance(v, str) and _NEWRELIC_URL.match(v.strip()) for v in payload.values())

    def split(self, payload: Any) -> list[Any]:
        return [payload]  # one issue (or legacy incident) per request

    def lifecycle(self, item: Any) -> Lifecycle:
        if not isinstance(item, dict):
            return Lifecycle.firing
        index = _index(item)
        state = STATE_LIFECYCLE.get(_word(_first(index, _STATE)))
        trigger = _word(_first(index, _TRIGGER))
        if state is Lifecycle.resolved or trigger in _CLOSING_TRIGGERS:
            return Lifecycle.resolved
        if trigger == "incidentadded":
            return Lifecycle.firing  # new evidence of the open issue: a repeat, or a new incident if ours closed
        if trigger == "useraction" and state is Lifecycle.acknowledged:
            return Lifecycle.acknowledged
        if trigger in _UPDATE_TRIGGERS:
            return Lifecycle.updated
        if state is not None:
            return state
        return _LEGACY_EVENTS.get(_word(_first(index, ("eventtype",))), Lifecycle.firing)

    def stream_key(self, item: Any) -> str:
        if not isinstance(item, dict):
            return bounded_key(self.slug, fallback_key(item))
        index = _index(item)
        ident = _first(index, _ID)
        if ident:
            return bounded_key(self.slug, ident)
        return bounded_key(self.slug, hashed_key(self._title(index), self._service(index, self._labels(index))))

    def normalize(self, item: Any) -> Alert:
        if not isinstance(item, dict):
            raise NormalizationError(
                f"not a New Relic notification: expected the JSON object of one issue or incident, got {type(item).__name__}"
            )
        index = _index(item)
        title = require_title(self._title(index))
        labels = self._labels(index)
        lifecycle = self.lifecycle(item)
        started = parse_time(
            _first(index, ("activatedat", "createdat", "issueactivatedatutc", "issuecreatedatutc"))
            # The legacy timestamp is the time of this event: the start only when the event is the opening.
            or (_first(index, ("timestamp",)) if lifecycle is Lifecycle.firing else None)
        )
        ended = parse_time(_first(index, ("closedat", "issueclosedatutc", "issueclosedat")))
        if ended is None and lifecycle is Lifecycle.resolved:
            ended = parse_time(_first(index, ("updatedat", "timestamp", "timestamputcstring")))
        return Alert(
            source=self.slug,
            title=title,
            description=self._description(index),
            severity=self._severity(index),
            lifecycle=lifecycle,
            service=self._service(index, labels),
            namespace=_label(labels, _NAMESPACE),
            pod=_label(labels, _POD),
            deployment=_label(labels, _DEPLOYMENT),
            labels=labels,
            annotations=self._annotations(index),
            links=self._links(index),
            fingerprint=_first(index, _ID),
            started_at=started,
            ended_at=ended,
        )

    # --- reading the body -------------------------------------------------------------------------

    @staticmethod
    def _title(index: Mapping[str, Any]) -> str | None:
        title = _first(index, _TITLE) or _first(index, ("annotationstitle",))
        if title:
            return title
        # Legacy incidents have no title: the condition and the first target name it.
        condition = _first(index, ("conditionname", "alertconditionnames", "accumulationsconditionname"))
        targets = _targets(index)
        target = _text(targets[0].get("name")) if targets else None
        if condition:
            return f"{condition} on '{target}'" if target else condition
        return _first(index, ("details",))

    @staticmethod
    def _labels(index: Mapping[str, Any]) -> dict[str, str]:
        labels: dict[str, str] = {}
        targets = _targets(index)
        if targets:
            labels |= _flat_labels(targets[0].get("labels"))
            for key, name in (("product", "product"), ("type", "target_type"), ("name", "target")):
                value = _text(targets[0].get(key))
                if value:
                    labels.setdefault(name, value)
        labels |= _flat_labels(index.get("tags"))
        labels |= _flat_labels(index.get("labels"))
        for names, label in (
            (("alertpolicynames", "policyname", "accumulationspolicyname"), "policy"),
            (("alertconditionnames", "conditionname", "accumulationsconditionname"), "condition"),
            (("workflowname",), "workflow"),
            (("accountid", "nraccountid"), "account_id"),
        ):
            value = _first(index, names)
            if value:
                labels.setdefault(label, value)
        entities = _entities(index)
        if entities:
            labels.setdefault("entity", entities[0])
        return labels

    @staticmethod
    def _service(index: Mapping[str, Any], labels: Mapping[str, str]) -> str | None:
        explicit = _first(index, _SERVICE) or _label(labels, ("service", "servicename", "appname"))
        if explicit:
            return explicit
        tag = index.get("accumulationstag")  # accumulations.tag.affectedService
        tagged = _texts(tag.get("affectedService")) if isinstance(tag, dict) else []
        if tagged:
            return tagged[0]
        entities = _entities(index)
        if entities:
            return entities[0]
        targets = _targets(index)
        return _text(targets[0].get("name")) if targets else None

    @staticmethod
    def _severity(index: Mapping[str, Any]) -> Severity:
        value = _first(index, ("priority", "severity", "prioritytext"))
        if value and _word(value) in SEVERITY:
            return SEVERITY[_word(value)]
        return parse_severity(value)

    @staticmethod
    def _description(index: Mapping[str, Any]) -> str:
        for name in ("annotationsdescription", "description"):
            value = index.get(name)
            if isinstance(value, list):
                parts = [t for t in (_text(v, limit=4000) for v in value) if t]
            else:
                parts = [t] if (t := _text(value, limit=10_000)) else []
            if parts:
                return "\n".join(dict.fromkeys(parts))[:10_000]
        names = ("details", "conditiondescription", "accumulationsconditiondescription")
        return _first(index, names, limit=10_000) or ""

    @staticmethod
    def _annotations(index: Mapping[str, Any]) -> dict[str, str]:
        def joined(*names: str) -> str | None:
            for name in names:
                texts = _texts(index.get(name), limit=500)
                if texts:
                    return ", ".join(texts)[:2000]
            return None

        fields = {
            "state": _first(index, _STATE),
            "trigger": _first(index, _TRIGGER),
            "event_type": _first(index, ("eventtype",)),
            "priority": _first(index, ("priority", "severity")),
            "policies": joined("alertpolicynames", "policyname", "accumulationspolicyname"),
            "conditions": joined("alertconditionnames", "conditionname", "accumulationsconditionname"),
            "condition_id": _first(index, ("conditionid", "conditionfamilyid", "accumulationsconditionfamilyid")),
            "entities": joined("impactedentities", "entitiesdatanames"),
            "total_incidents": _first(index, ("totalincidents",)),
            "correlated": _texts_bool(index.get("iscorrelated")),
            "workflow": _first(index, ("workflowname",)),
            "owner": _first(index, ("owner", "acknowledgedby")),
            "account": _first(index, ("accountname",)),
            "readable_id": _first(index, ("incidentreadableid",)),
            "details": _first(index, ("details",), limit=4000),
            "nrql": joined("accumulationsnrqlquery", "nrqlquery"),
        }
        return {k: v for k, v in fields.items() if v}

    @staticmethod
    def _links(index: Mapping[str, Any]) -> dict[str, str]:
        links: dict[str, str] = {}
        for names, link in (
            (("issueurl", "issuepageurl", "incidenturl"), "newrelic"),
            (("runbookurl", "accumulationsrunbookurl"), "runbook"),
            (("violationcharturl",), "image"),
            (("issueackurl", "incidentacknowledgeurl"), "acknowledge"),
            (("policyurl",), "policy"),
            (("violationcallbackurl", "accumulationsdeeplinkurl", "deeplinkurl"), "generator"),
        ):
            value = _first(index, names, limit=2000)
            if value:
                links[link] = value
        targets = _targets(index)
        target_link = _text(targets[0].get("link"), limit=2000) if targets else None
        if target_link:
            links["entity"] = target_link
        return links


def _label(labels: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    by_norm = {normalized_name(k): v for k, v in labels.items() if v}
    return next((by_norm[n] for n in names if by_norm.get(n)), None)


def _targets(index: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Legacy targets: a list of objects, or that list rendered as JSON text by a custom payload."""
    targets = index.get("targets")
    if isinstance(targets, str) and targets.strip().startswith("[") and len(targets) < 100_000:
        try:
            targets = json.loads(targets)
        except (ValueError, RecursionError):
            return []
    if isinstance(targets, dict):
        targets = [targets]
    if not isinstance(targets, list):
        return []
    return [t for t in targets if isinstance(t, dict)]


def _entities(index: Mapping[str, Any]) -> list[str]:
    for name in ("impactedentities", "entitiesdatanames", "entitynames", "entityname"):
        value = index.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            continue  # templates that render impactedEntitiesCount under this key
        texts = _texts(value)
        if texts:
            return texts
    entities = index.get("entitiesdataentities")
    if isinstance(entities, list):
        return _texts([e for e in entities if isinstance(e, dict)])
    return []


def _texts_bool(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = _text(value)
    return text.lower() if text and text.lower() in ("true", "false") else None
