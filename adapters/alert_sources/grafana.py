"""Grafana webhook contact point: unified alerting (Grafana 8.3 to 12+) and legacy dashboard alerting (<= 8).

**Unified alerting** (body `version` "1"): one notification group per body, like Alertmanager, with
Grafana's extras: envelope `orgId`, `title`, `state` ("alerting"/"ok"), `message`, `truncatedAlerts`;
per alert `silenceURL`, `dashboardURL`, `panelURL`, `values` (`null` when the evaluation produced none,
e.g. test alerts and DatasourceError), `valueString`, `imageURL` (only when screenshots are enabled),
`orgId` (newer versions, omitted when unknown) and `ruleUID` (2026). Each alert becomes one item
`{"alert": <alert>, "group": <envelope without "alerts" and "message">}`. The envelope's `message` is
the rendered text of the whole group: it is dropped from the items because repeating it in every item
would make a batch's stored size grow with the square of its alert count.

**Legacy alerting** (`ruleId`, `ruleName`, `evalMatches`, `state`, `tags`, ...): one alert per body; the
item is the body itself.

Detection (`detect`): User-Agent `Grafana` (what Grafana's webhook sender sends, unversioned) or
`Grafana/<version>`; or Grafana's default HMAC signature header `X-Grafana-Alert-Signature` (the UI's
placeholder spelling `X-Grafana-Alerting-Signature` too); or the body's shape: an `alerts` list with
`version` "1" and `orgId` (Alertmanager sends `version` "4" and no `orgId`), or `version` "1" +
`groupKey` + `state` "alerting"/"ok" (Grafana 8.0-8.2 had no `orgId`), or the legacy keys
`ruleId` + an `evalMatches` list, or `ruleName` + a legacy `state` word.

Stream key: unified -> the alert's `fingerprint` (Grafana's hash of the full label set, rule UID
included, so firing and resolved share it), else a hash of its sorted labels; legacy ->
`legacy:<orgId>:<ruleId>` (org 1 when absent, Grafana's default org), else a hash of rule name,
dashboard and panel; legacy test notifications (random rule id) -> `legacy:test:<orgId>`.

Lifecycle:

| Grafana event                                          | Lifecycle  |
|--------------------------------------------------------|------------|
| unified alert `status` "firing" (test alerts included)  | firing     |
| unified alert `status` "resolved" (any state reason)   | resolved   |
| legacy `state` "alerting", "no_data"                   | firing     |
| legacy `state` "ok"                                    | resolved   |
| legacy `state` "pending", "paused"                     | updated    |
| anything else                                          | firing     |

A resolved alert whose `grafana_state_reason` annotation is MissingSeries, Updated, RuleDeleted or
Paused is still resolved: Grafana stopped tracking that alert instance and will not send another
"resolved" for it; the reason stays in the annotations and the description says it.

Severity: Grafana has no severity field of its own; rules carry conventional `severity` (or
`priority`) labels (legacy: tags). The label value is mapped with `SEVERITY_WORDS`, then with the
shared `parse_severity` for anything else:

| label value (case, `-`, `_` and spaces ignored)                            | Severity |
|----------------------------------------------------------------------------|----------|
| critical, crit, fatal, emergency, emerg, disaster, page, p1, sev1, 1       | critical |
| high, error, err, major, urgent, p2, sev2, 2                                | high     |
| warning, warn, medium, moderate, average, p3, sev3, 3                      | medium   |
| low, minor, p4, sev4, 4                                                     | low      |
| info, informational, information, notice, debug, none, ok, p5, sev5, 5    | info     |
| no label, or a word not listed                                             | medium   |
| test notification (whatever its labels say)                                | info     |
| `DatasourceNoData` / `DatasourceError` alert, legacy `no_data`: no label    | low      |
| the same with a label                                                      | label, at most medium |

No data / error: by default Grafana turns a rule's NoData or Error state into a separate alert named
`DatasourceNoData` / `DatasourceError` (labels `rulename`, `datasource_uid`, `ref_id` plus the rule's
own labels). Such an alert says the monitoring is blind, not that the service is failing, and one
data source outage raises one per rule: it opens an incident (somebody must restore the monitoring)
but at most `medium`, so a data source outage does not page like N critical outages. Its title is
`<alertname>: <rulename>` so it is never mistaken for the rule's own alert. When a rule is configured to
go Alerting on NoData/Error instead, Grafana sends the rule's own alert with the annotation
`grafana_state_reason` NoData/Error: the rule's author chose to alert on it, so its severity label is
used as is and only the description mentions the reason.

Test notifications (the contact point's "Test" button): the alert Grafana builds has labels
`alertname=TestAlert, instance=Grafana` (Mimir-based Grafana Cloud: `instance=Alertmanager`),
annotation `summary=Notification test`, an empty `generatorURL`, and a group key that no real group
has (`<integration>-<16 hex fingerprint>-<unix seconds>`; Grafana 8/early 9:
`{labels}<Go time.String()>`). Since Grafana 9.3 the user may override the labels and annotations
(a "custom" test); the group key and empty generator URL still give it away. Legacy tests carry the
message "Someone is testing the alert notification within Grafana." and a random rule id. A test
becomes an `info` alert with the label `test_notification: "true"` and a title starting `[TEST] `.

Kept data: `values` become annotations `value_<refId>` (e.g. `value_B: "22.5"`; an annotation of the
same name set by the rule wins), `valueString` becomes `value_string`; legacy `evalMatches` become
`value_<metric>` (`value_<metric>#<n>` for repeats). Also annotations `grafana_org_id`,
`grafana_rule_uid`, `grafana_truncated_alerts` (when Grafana dropped alerts over the contact point's
max), and for legacy `grafana_rule_id`, `grafana_dashboard_id`, `grafana_panel_id`, `grafana_state`.
Links: `imageURL` -> image, `dashboardURL` -> dashboard, `panelURL` -> panel, `silenceURL` -> silence,
`generatorURL` -> generator, annotation `runbook_url` -> runbook, envelope `externalURL` -> grafana;
legacy `ruleUrl` -> generator (and panel when the body names a panel), `imageUrl` -> image.

Not supported: a Grafana 12 "custom payload" template replaces the whole body with the user's own
JSON; such bodies are still detected by the User-Agent but are dead-lettered unless they keep the
default shape. Alerts Grafana truncated (`truncatedAlerts`) are not in the body and cannot be recovered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.alert_sources.base import (
    bounded_key,
    fallback_key,
    grouped_alert,
    hashed_key,
    parse_severity,
    parse_time,
    require_title,
    split_group,
    string_map,
    text_or_none,
)
from domain.models import Alert, Lifecycle, NormalizationError, Severity

# Envelope keys copied into every item. Not "alerts" (each item has its own) and not "message" (the
# rendered text of the whole group: quadratic storage for big batches, and not about this alert).
_GROUP_KEYS = (
    "receiver",
    "status",
    "orgId",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "version",
    "groupKey",
    "truncatedAlerts",
    "title",
    "state",
)
_SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "service_name", "job", "container")
_LEGACY_STATES = {
    "alerting": Lifecycle.firing,
    "no_data": Lifecycle.firing,
    "ok": Lifecycle.resolved,
    "pending": Lifecycle.updated,
    "paused": Lifecycle.updated,
}
_LEGACY_KEYS = ("ruleId", "ruleName", "evalMatches", "ruleUrl")
_SIGNATURE_HEADERS = ("x-grafana-alert-signature", "x-grafana-alerting-signature")
_DATASOURCE_STATE_ALERTS = ("DatasourceNoData", "DatasourceError")
_TEST_INSTANCES = ("Grafana", "Alertmanager")
# Group keys only test notifications have: "<integration>-<fingerprint>-<unix>" (Grafana 9.3+) and
# "{labels}<Go time.Time.String()>" (Grafana 8 / early 9). Real group keys end with "}".
_TEST_GROUP_KEY = re.compile(
    r".*-[0-9a-f]{16}-\d+|\{.*\}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+( m=[+-][\d.]+)?",
    re.DOTALL,
)
_LEGACY_TEST_MESSAGE = "someone is testing the alert notification"
_LEGACY_TITLE_PREFIX = re.compile(r"^\s*\[[^\]]*\]\s*")
_VALUE_LIMIT = 2000

# Conventional severity/priority label values on Grafana rules (see the module docstring's table).
SEVERITY_WORDS: dict[str, Severity] = {}
for _sev, _words in {
    Severity.critical: ("critical", "crit", "fatal", "emergency", "emerg", "disaster", "page", "p1", "sev1", "1"),
    Severity.high: ("high", "error", "err", "major", "urgent", "p2", "sev2", "2"),
    Severity.medium: ("warning", "warn", "medium", "moderate", "average", "p3", "sev3", "3"),
    Severity.low: ("low", "minor", "p4", "sev4", "4"),
    Severity.info: ("info", "informational", "information", "notice", "debug", "none", "ok", "p5", "sev5", "5"),
}.items():
    for _w in _words:
        SEVERITY_WORDS[_w] = _sev

_SEVERITY_ORDER = (Severity.info, Severity.low, Severity.medium, Severity.high, Severity.critical)


def _severity(value: str | None, default: Severity = Severity.medium) -> Severity:
    if value is None:
        return default
    word = value.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if word.isdecimal():
        word = word.lstrip("0") or "0"
    return SEVERITY_WORDS.get(word) or parse_severity(value, default=default)


def _at_most(severity: Severity, cap: Severity) -> Severity:
    return min(severity, cap, key=_SEVERITY_ORDER.index)


def _text(value: Any, limit: int = 500) -> str:
    return text_or_none(value, limit=limit) or ""


def _link(value: Any) -> str | None:
    return text_or_none(value, limit=_VALUE_LIMIT)


def _is_legacy(payload: Any) -> bool:
    """Shape of a legacy (pre-unified) alerting webhook body."""
    if not isinstance(payload, dict) or "alerts" in payload:
        return False
    if "ruleId" in payload and isinstance(payload.get("evalMatches"), list):
        return True
    return "ruleName" in payload and _text(payload.get("state")).lower() in _LEGACY_STATES


def _is_unified(payload: Any) -> bool:
    """Shape of a unified alerting webhook body (never Alertmanager's version 4)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return False
    if _text(payload.get("version")) != "1":
        return False
    if "orgId" in payload:
        return True
    return "groupKey" in payload and _text(payload.get("state")).lower() in ("alerting", "ok")


class GrafanaSource:
    slug = "grafana"

    def detect(self, payload: Any, headers: Mapping[str, str]) -> bool:
        if isinstance(headers, Mapping):
            agent = headers.get("user-agent")
            if isinstance(agent, str) and (agent.strip() == "Grafana" or agent.startswith("Grafana/")):
                return True
            if any(headers.get(name) for name in _SIGNATURE_HEADERS):
                return True
        return _is_unified(payload) or _is_legacy(payload)

    def split(self, payload: Any) -> list[Any]:
        # A legacy body is one alert; anything else without alerts is dead-lettered as one item.
        return split_group(payload, _GROUP_KEYS)

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _is_test(alert: Mapping[str, Any], group: Mapping[str, Any]) -> bool:
        labels = string_map(alert.get("labels"))
        annotations = string_map(alert.get("annotations"))
        instance = labels.get("instance")
        if labels.get("alertname") == "TestAlert" and instance in _TEST_INSTANCES:
            return True
        if annotations.get("summary") == "Notification test" and instance in _TEST_INSTANCES:
            return True
        group_key = group.get("groupKey")
        return (
            not _link(alert.get("generatorURL"))
            and isinstance(group_key, str)
            and _TEST_GROUP_KEY.fullmatch(group_key) is not None
        )

    @staticmethod
    def _is_legacy_test(body: Mapping[str, Any]) -> bool:
        if _text(body.get("message")).lower().startswith(_LEGACY_TEST_MESSAGE):
            return True
        return _text(body.get("ruleName")) == "Test notification" and _text(body.get("title")).endswith(
            "Test notification"
        )

    @staticmethod
    def _legacy_org(body: Mapping[str, Any]) -> str:
        return _text(body.get("orgId"), 100) or "1"

    # --- protocol -------------------------------------------------------------------------------

    def lifecycle(self, item: Any) -> Lifecycle:
        unified = grouped_alert(item)
        if unified is not None:
            alert, group = unified
            status = _text(alert.get("status")).lower() or _text(group.get("status")).lower()
            return Lifecycle.resolved if status == "resolved" else Lifecycle.firing
        if isinstance(item, dict) and not isinstance(item.get("alerts"), list):
            return _LEGACY_STATES.get(_text(item.get("state")).lower(), Lifecycle.firing)
        return Lifecycle.firing

    def stream_key(self, item: Any) -> str:
        unified = grouped_alert(item)
        if unified is not None:
            alert, _ = unified
            fingerprint = text_or_none(alert.get("fingerprint"))
            if fingerprint:
                return bounded_key(self.slug, fingerprint)
            labels = string_map(alert.get("labels"))
            if labels:
                return bounded_key(self.slug, hashed_key(*(f"{k}={v}" for k, v in sorted(labels.items()))))
            annotations = string_map(alert.get("annotations"))
            return bounded_key(self.slug, hashed_key(annotations.get("summary"), _link(alert.get("generatorURL"))))
        if isinstance(item, dict) and any(k in item for k in _LEGACY_KEYS):
            org = self._legacy_org(item)
            if self._is_legacy_test(item):
                return bounded_key(self.slug, f"legacy:test:{org}")
            rule = text_or_none(item.get("ruleId"), limit=100)
            if rule:
                return bounded_key(self.slug, f"legacy:{org}:{rule}")
            name = _text(item.get("ruleName")) or _LEGACY_TITLE_PREFIX.sub("", _text(item.get("title")))
            return bounded_key(
                self.slug,
                "legacy:" + hashed_key(org, name, _text(item.get("dashboardId")), _text(item.get("panelId"))),
            )
        return bounded_key(self.slug, fallback_key(item))

    def normalize(self, item: Any) -> Alert:
        unified = grouped_alert(item)
        if unified is not None:
            return self._normalize_unified(item, *unified)
        if isinstance(item, dict) and isinstance(item.get("alerts"), list):
            raise NormalizationError("Grafana body with an empty 'alerts' list: there is no alert to normalize")
        if isinstance(item, dict) and any(k in item for k in _LEGACY_KEYS):
            return self._normalize_legacy(item)
        raise NormalizationError(
            "not a Grafana alert: expected an object of a unified alerting body's 'alerts' list or a legacy "
            "alerting body (ruleId/ruleName/evalMatches); a Grafana 12 custom payload template must keep "
            "the default webhook shape"
        )

    # --- unified alerting -----------------------------------------------------------------------

    def _normalize_unified(self, item: Any, alert: dict[str, Any], group: dict[str, Any]) -> Alert:
        labels = string_map(alert.get("labels"))
        annotations = string_map(alert.get("annotations"))
        if not labels and not annotations:
            raise NormalizationError("Grafana alert has neither labels nor annotations")
        test = self._is_test(alert, group)
        alertname = labels.get("alertname")
        reason = annotations.get("grafana_state_reason") or labels.get("grafana_state_reason")
        datasource_state = alertname in _DATASOURCE_STATE_ALERTS

        summary = annotations.get("summary") or annotations.get("title")
        if datasource_state:
            title = f"{alertname}: {labels.get('rulename') or summary or 'unknown rule'}"
        else:
            title = summary or alertname or labels.get("rulename") or _text(group.get("title"))
        title = require_title(title)

        description = annotations.get("description") or annotations.get("message") or annotations.get("Error", "")
        if reason:
            description = f"{description}\n\nGrafana state reason: {reason}".strip()

        label_severity = labels.get("severity") or labels.get("priority") or annotations.get("severity")
        if test:
            severity = Severity.info
        elif datasource_state:
            severity = _at_most(_severity(label_severity, default=Severity.low), Severity.medium)
        else:
            severity = _severity(label_severity)

        extra = self._values(alert.get("values"))
        value_string = text_or_none(alert.get("valueString"), limit=_VALUE_LIMIT)
        if value_string:
            extra["value_string"] = value_string
        org = text_or_none(alert.get("orgId"), limit=100) or text_or_none(group.get("orgId"), limit=100)
        if org:
            extra["grafana_org_id"] = org
        rule_uid = text_or_none(alert.get("ruleUID"), limit=200)
        if rule_uid:
            extra["grafana_rule_uid"] = rule_uid
        truncated = text_or_none(group.get("truncatedAlerts"), limit=100)
        if truncated and truncated not in ("0", "False"):
            extra["grafana_truncated_alerts"] = truncated
        annotations = extra | annotations  # the rule's own annotations win over derived ones

        if test:
            labels["test_notification"] = "true"
            title = f"[TEST] {title}"

        links: dict[str, str] = {}
        for link, value in (
            ("runbook", annotations.get("runbook_url")),
            ("generator", alert.get("generatorURL")),
            ("dashboard", alert.get("dashboardURL") or annotations.get("dashboard_url")),
            ("panel", alert.get("panelURL")),
            ("silence", alert.get("silenceURL")),
            ("image", alert.get("imageURL")),
            ("grafana", group.get("externalURL")),
        ):
            url = _link(value)
            if url:
                links[link] = url

        return Alert(
            source=self.slug,
            title=title,
            description=description,
            severity=severity,
            lifecycle=self.lifecycle(item),
            service=next((labels[k] for k in _SERVICE_LABELS if labels.get(k)), None),
            namespace=labels.get("namespace") or labels.get("kubernetes_namespace") or labels.get("k8s_namespace_name"),
            pod=labels.get("pod") or labels.get("pod_name") or labels.get("k8s_pod_name"),
            deployment=labels.get("deployment") or labels.get("k8s_deployment_name"),
            labels=labels,
            annotations=annotations,
            links=links,
            fingerprint=text_or_none(alert.get("fingerprint")),
            started_at=parse_time(alert.get("startsAt")),
            ended_at=parse_time(alert.get("endsAt")),
        )

    @staticmethod
    def _values(values: Any) -> dict[str, str]:
        """Grafana's `values` (refId -> number) as `value_<refId>` annotations; null or junk gives none."""
        out: dict[str, str] = {}
        if not isinstance(values, dict):
            return out
        for ref, value in values.items():
            text = text_or_none(value, limit=100)
            if text is not None:
                out[f"value_{ref}"] = text
        return out

    # --- legacy alerting ------------------------------------------------------------------------

    def _normalize_legacy(self, body: dict[str, Any]) -> Alert:
        test = self._is_legacy_test(body)
        title = text_or_none(body.get("ruleName")) or _LEGACY_TITLE_PREFIX.sub("", _text(body.get("title")))
        title = require_title(title or text_or_none(body.get("title")))
        labels = string_map(body.get("tags"))
        state = _text(body.get("state")).lower()

        annotations: dict[str, str] = {}
        matches = body.get("evalMatches")
        for n, match in enumerate(matches if isinstance(matches, list) else []):
            if not isinstance(match, dict):
                continue
            value = text_or_none(match.get("value"), limit=100)
            if value is None:
                continue
            key = f"value_{_text(match.get('metric')) or n}"
            annotations[f"{key}#{n}" if key in annotations else key] = value
        for key, field in (
            ("grafana_rule_id", "ruleId"),
            ("grafana_org_id", "orgId"),
            ("grafana_dashboard_id", "dashboardId"),
            ("grafana_panel_id", "panelId"),
            ("grafana_state", "state"),
        ):
            value = text_or_none(body.get(field), limit=100)
            if value is not None:
                annotations[key] = value

        label_severity = labels.get("severity") or labels.get("priority")
        if test:
            severity = Severity.info
            labels["test_notification"] = "true"
            title = f"[TEST] {title}"
        elif state == "no_data":
            severity = _at_most(_severity(label_severity, default=Severity.low), Severity.medium)
        else:
            severity = _severity(label_severity)

        links: dict[str, str] = {}
        rule_url = _link(body.get("ruleUrl"))
        if rule_url:
            links["generator"] = rule_url
            if text_or_none(body.get("panelId")) not in (None, "0"):
                links["panel"] = rule_url
        image = _link(body.get("imageUrl"))
        if image:
            links["image"] = image
        if labels.get("runbook_url"):
            links["runbook"] = labels["runbook_url"]

        rule = text_or_none(body.get("ruleId"), limit=100)
        return Alert(
            source=self.slug,
            title=title,
            description=_text(body.get("message"), 5000),
            severity=severity,
            lifecycle=self.lifecycle(body),
            service=next((labels[k] for k in _SERVICE_LABELS if labels.get(k)), None),
            namespace=labels.get("namespace"),
            pod=labels.get("pod"),
            deployment=labels.get("deployment"),
            labels=labels,
            annotations=annotations,
            links=links,
            fingerprint=f"legacy:{self._legacy_org(body)}:{rule}" if rule and not test else None,
        )
