"""The New Relic source: Workflows issue webhooks and the legacy incident webhook.

workflow_*.json follow the Workflows default payload template (one issue through its states and
triggers), workflow_enriched.json a template using raw variables (accumulations, entitiesData, labels,
annotations) with numbers and booleans rendered as strings, workflow_text_lists.json a template rendering
lists as text. legacy_*.json follow the legacy channel webhook (one incident through open, acknowledged,
closed; an id past 2**53) and a legacy custom payload whose variables are all strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.alert_sources.newrelic import SEVERITY, NewRelicSource
from domain.models import Lifecycle, NormalizationError, Severity
from tests.unit.source_checks import check_never_raises, claimed_fixtures, fixture_names, json_values, load_fixture

ISSUE = "5f6c2b1e-9a3d-4c8e-b7f1-2d4e6a8c0b13"
INCIDENT = 9007199254740993  # 2**53 + 1: not representable as a float


def load(name: str) -> dict[str, Any]:
    return load_fixture("newrelic", name)


@pytest.fixture
def nr() -> NewRelicSource:
    return NewRelicSource()


# --- detection ----------------------------------------------------------------------------------

OWN_FIXTURES = fixture_names("newrelic")


@pytest.mark.parametrize("name", OWN_FIXTURES)
def test_own_fixtures_are_detected(nr: NewRelicSource, name: str) -> None:
    assert nr.detect(load(name), {"user-agent": "Go-http-client/2.0"}) is True


def test_other_vendors_fixtures_are_not_detected(nr: NewRelicSource) -> None:
    assert claimed_fixtures(nr) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "x", "severity": "high"},
        {"id": "1", "title": "t", "state": "ACTIVATED", "priority": "CRITICAL"},  # generic words only
        {"incident_id": 5, "details": "d", "severity": "CRITICAL"},  # one legacy key is not enough
        {"issueId": "x", "workflowName": "w"},  # two without a New Relic link
        {"issueId": "x", "workflowName": "w", "url": "https://newrelic.example.com/x"},  # not newrelic.com
        {"action": "Create", "alert": {"alertId": "a1", "priority": "P1"}},  # Opsgenie
        {"event": {"event_type": "incident.triggered", "data": {"id": "Q1"}}},  # PagerDuty V3
        {"body": "b", "title": "[Triggered] t", "event_type": "query_alert_monitor", "date": "1", "org": {}},
        [{"issueId": "x", "issueUrl": "u", "workflowName": "w"}],
        "text",
        None,
    ],
)
def test_other_bodies_are_not_detected(nr: NewRelicSource, payload: Any) -> None:
    assert nr.detect(payload, {}) is False


def test_two_keys_with_a_new_relic_link_are_enough(nr: NewRelicSource) -> None:
    minimal = {
        "id": ISSUE,
        "issueUrl": f"https://radar-api.service.newrelic.com/accounts/1/issues/{ISSUE}",
        "title": "t",
        "state": "ACTIVATED",
        "alertConditionNames": ["c"],
    }
    assert nr.detect(minimal, {}) is True
    legacy = {
        "incident_id": 7,
        "incident_url": "https://alerts.newrelic.com/accounts/1/incidents/7",
        "current_state": "open",
    }
    assert nr.detect(legacy, {}) is True


# --- split --------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [{"id": "x"}, [{"id": "a"}, {"id": "b"}], [], "text", None])
def test_split_is_one_item_per_request(nr: NewRelicSource, payload: Any) -> None:
    assert nr.split(payload) == [payload]


# --- lifecycle ----------------------------------------------------------------------------------


def test_lifecycle_of_the_fixtures(nr: NewRelicSource) -> None:
    assert {name: nr.lifecycle(load(name)) for name in OWN_FIXTURES} == {
        "legacy_acknowledged.json": Lifecycle.acknowledged,
        "legacy_closed.json": Lifecycle.resolved,
        "legacy_custom_payload.json": Lifecycle.firing,
        "legacy_open.json": Lifecycle.firing,
        "workflow_acknowledged.json": Lifecycle.acknowledged,
        "workflow_activated.json": Lifecycle.firing,
        "workflow_closed.json": Lifecycle.resolved,
        "workflow_enriched.json": Lifecycle.firing,  # CREATED
        "workflow_incident_added.json": Lifecycle.firing,
        "workflow_priority_changed.json": Lifecycle.updated,
        "workflow_text_lists.json": Lifecycle.firing,
    }


@pytest.mark.parametrize(
    ("state", "trigger", "expected"),
    [
        ("CREATED", "STATE_CHANGE", Lifecycle.firing),
        ("ACTIVATED", "STATE_CHANGE", Lifecycle.firing),
        ("ACTIVATED", None, Lifecycle.firing),
        ("ACKNOWLEDGED", "STATE_CHANGE", Lifecycle.acknowledged),
        ("CLOSED", "STATE_CHANGE", Lifecycle.resolved),
        ("ACTIVATED", "INCIDENT_ADDED", Lifecycle.firing),  # new evidence of the problem: a repeat
        ("ACKNOWLEDGED", "INCIDENT_ADDED", Lifecycle.firing),
        ("ACTIVATED", "PRIORITY_CHANGED", Lifecycle.updated),
        ("ACKNOWLEDGED", "PRIORITY_CHANGED", Lifecycle.updated),
        ("ACTIVATED", "MERGE_REQUEST", Lifecycle.updated),
        ("ACTIVATED", "INCIDENT_CLOSED", Lifecycle.updated),  # one incident of several closed
        ("CLOSED", "INCIDENT_CLOSED", Lifecycle.resolved),  # ... the last one
        ("ACTIVATED", "USER_ACTION", Lifecycle.updated),
        ("ACKNOWLEDGED", "USER_ACTION", Lifecycle.acknowledged),
        ("CLOSED", "USER_ACTION", Lifecycle.resolved),
        ("CLOSED", "CLOSE_INACTIVE", Lifecycle.resolved),
        (None, "CLOSE_TTL", Lifecycle.resolved),
        (None, "PRIORITY_CHANGED", Lifecycle.updated),
        ("ACTIVATED", "SOMETHING_NEW", Lifecycle.firing),
        ("closed", "state_change", Lifecycle.resolved),  # case and separators do not matter
        ("SOMETHING_NEW", None, Lifecycle.firing),
    ],
)
def test_workflow_state_and_trigger(
    nr: NewRelicSource, state: str | None, trigger: str | None, expected: Lifecycle
) -> None:
    body: dict[str, Any] = {"id": ISSUE, "title": "t"}
    if state is not None:
        body["state"] = state
    if trigger is not None:
        body["trigger"] = trigger
    assert nr.lifecycle(body) is expected
    if trigger is not None:  # customized templates name the variable after triggerEvent
        body["triggerEvent"] = body.pop("trigger")
        assert nr.lifecycle(body) is expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"current_state": "open", "event_type": "INCIDENT"}, Lifecycle.firing),
        ({"current_state": "acknowledged"}, Lifecycle.acknowledged),
        ({"current_state": "closed"}, Lifecycle.resolved),
        ({"current_state": "OPEN", "event_type": "NOTIFICATION"}, Lifecycle.firing),  # the channel test
        ({"current_state": "$EVENT_STATE", "event_type": "INCIDENT_CLOSED"}, Lifecycle.resolved),
        ({"event_type": "INCIDENT_ACKNOWLEDGED"}, Lifecycle.acknowledged),
        ({"event_type": "INCIDENT_OPEN"}, Lifecycle.firing),
        ({}, Lifecycle.firing),
        (None, Lifecycle.firing),
        ("closed", Lifecycle.firing),
    ],
)
def test_legacy_lifecycle(nr: NewRelicSource, item: Any, expected: Lifecycle) -> None:
    assert nr.lifecycle(item) is expected


# --- stream keys --------------------------------------------------------------------------------


def test_every_state_of_an_issue_shares_its_key(nr: NewRelicSource) -> None:
    names = [
        n
        for n in OWN_FIXTURES
        if n.startswith("workflow_") and n not in ("workflow_enriched.json", "workflow_text_lists.json")
    ]
    assert len(names) == 5
    assert {nr.stream_key(load(n)) for n in names} == {f"newrelic:{ISSUE}"}


def test_every_state_of_a_legacy_incident_shares_its_key(nr: NewRelicSource) -> None:
    keys = {nr.stream_key(load(f"legacy_{s}.json")) for s in ("open", "acknowledged", "closed")}
    assert keys == {f"newrelic:{INCIDENT}"}  # every digit: the id was never a float


def test_different_issues_get_different_keys(nr: NewRelicSource) -> None:
    keys = {
        nr.stream_key(load(n))
        for n in (
            "workflow_activated.json",
            "workflow_enriched.json",
            "workflow_text_lists.json",
            "legacy_open.json",
            "legacy_custom_payload.json",
        )
    }
    assert len(keys) == 5


@pytest.mark.parametrize(
    "body",
    [
        {"issueId": ISSUE, "id": "other"},
        {"id": ISSUE, "incident_id": 12},
        {"issue_id": [ISSUE]},
        {"id": f'["{ISSUE}"]'},
    ],
)
def test_issue_id_spellings(nr: NewRelicSource, body: dict[str, Any]) -> None:
    assert nr.stream_key(body) == f"newrelic:{ISSUE}"


def test_without_an_id_the_key_is_the_title_and_service(nr: NewRelicSource) -> None:
    one = {"title": "CPU > 90%", "impactedEntities": ["web-1"], "state": "ACTIVATED", "updatedAt": 1}
    same = {"title": "CPU > 90%", "impactedEntities": ["web-1"], "state": "CLOSED", "updatedAt": 2}
    other = {"title": "CPU > 90%", "impactedEntities": ["web-2"], "state": "ACTIVATED"}
    assert nr.stream_key(one) == nr.stream_key(same)
    assert nr.stream_key(one) != nr.stream_key(other)
    assert nr.stream_key({"id": True, "title": "t"}) == nr.stream_key({"title": "t"})  # a boolean is no id


# --- normalize ----------------------------------------------------------------------------------


def test_normalize_default_workflow_payload(nr: NewRelicSource) -> None:
    alert = nr.normalize(load("workflow_activated.json"))
    assert alert.source == "newrelic"
    assert alert.title == "Error percentage > 5.0 for at least 5 minutes on 'checkout-service'"
    assert alert.description == ""
    assert alert.severity is Severity.critical
    assert alert.lifecycle is Lifecycle.firing
    assert alert.service == "checkout-service"  # the first impacted entity
    assert alert.namespace is alert.pod is alert.deployment is None
    assert alert.labels == {
        "policy": "Checkout golden signals",
        "condition": "Checkout error rate",
        "workflow": "SRE on-call to AI-SRE",
        "entity": "checkout-service",
    }
    assert alert.annotations == {
        "state": "ACTIVATED",
        "trigger": "STATE_CHANGE",
        "priority": "CRITICAL",
        "policies": "Checkout golden signals",
        "conditions": "Checkout error rate",
        "entities": "checkout-service",
        "total_incidents": "1",
        "correlated": "false",
        "workflow": "SRE on-call to AI-SRE",
    }
    assert alert.links == {
        "newrelic": f"https://radar-api.service.newrelic.com/accounts/3456789/issues/{ISSUE}?notifier=WEBHOOK&action=ACTIVATED"
    }
    assert alert.fingerprint == ISSUE
    assert alert.started_at == datetime(2026, 3, 14, 22, 12, 57, tzinfo=UTC)
    assert alert.ended_at is None


def test_normalize_closed_issue(nr: NewRelicSource) -> None:
    alert = nr.normalize(load("workflow_closed.json"))
    assert alert.lifecycle is Lifecycle.resolved
    assert alert.started_at == datetime(2026, 3, 14, 22, 12, 57, tzinfo=UTC)
    assert alert.ended_at == datetime(2026, 3, 14, 22, 32, 57, tzinfo=UTC)  # updatedAt of the closing


def test_normalize_enriched_workflow_payload(nr: NewRelicSource) -> None:
    alert = nr.normalize(load("workflow_enriched.json"))
    assert alert.title == "Memory Used % > 90 for at least 2 minutes on 'payments-api-7c9d5b8f6-q4kzn'"
    assert (
        alert.description == "The payments-api container is close to its memory limit; OOM kills follow within minutes."
    )
    assert alert.severity is Severity.high
    assert alert.service == "payments-api"  # accumulations.tag.affectedService beats the entity (a pod)
    assert alert.namespace == "payments"
    assert alert.pod == "payments-api-7c9d5b8f6-q4kzn"
    assert alert.deployment == "payments-api"
    assert alert.labels["k8s.clusterName"] == "prod-eu-1"
    assert alert.labels["accountIds"] == "3456789"
    assert alert.labels["policy"] == "Payments Kubernetes"
    assert alert.annotations["total_incidents"] == "3"  # sent as a string
    assert alert.annotations["correlated"] == "true"  # sent as a string
    assert alert.annotations["condition_id"] == "41873265"
    assert alert.annotations["nrql"].startswith("SELECT average(memoryWorkingSetUtilization)")
    assert alert.links == {
        "newrelic": "https://radar-api.service.newrelic.com/accounts/3456789/issues/0ea2df1c-adab-45d2-aae0-042b609d2322?notifier=WEBHOOK&action=CREATED",
        "runbook": "https://runbooks.acme.example/payments/memory",
        "image": "https://gorgon.nr-assets.net/image/4b1c0f6e-8a2d-4e5f-9c3b-7d6e5f4a3b2c?config.legend.enabled=false",
        "acknowledge": "https://radar-api.service.newrelic.com/accounts/3456789/issues/0ea2df1c-adab-45d2-aae0-042b609d2322/acknowledge",
    }
    assert alert.started_at == datetime(2026, 3, 14, 22, 12, 57, tzinfo=UTC)  # "createdAt" as a string


def test_normalize_lists_rendered_as_text(nr: NewRelicSource) -> None:
    alert = nr.normalize(load("workflow_text_lists.json"))
    assert alert.service == "orders-api"  # "orders-api, orders-worker"
    assert alert.labels["policy"] == "Orders latency"  # '["Orders latency"]'
    assert alert.annotations["entities"] == "orders-api, orders-worker"
    assert alert.severity is Severity.medium
    assert alert.started_at == datetime(2026, 3, 14, 22, 12, 57, 123000, tzinfo=UTC)
    assert alert.ended_at is None  # "closedAt": null


def test_normalize_legacy_incident(nr: NewRelicSource) -> None:
    alert = nr.normalize(load("legacy_open.json"))
    assert alert.title == "Checkout error rate on 'Checkout'"
    assert alert.description == "Error percentage > 5.0% for at least 5 minutes on 'Checkout'"
    assert alert.severity is Severity.critical
    assert alert.lifecycle is Lifecycle.firing
    assert alert.service == "checkout"  # the target's service label beats its name
    assert alert.namespace == "shop"
    assert alert.deployment == "checkout"
    assert alert.labels["environment"] == "production"
    assert alert.labels["product"] == "APM"
    assert alert.labels["target"] == "Checkout"
    assert alert.labels["policy"] == "Checkout golden signals"
    assert alert.labels["account_id"] == "3456789"
    assert alert.fingerprint == str(INCIDENT)
    assert alert.started_at == datetime(2026, 3, 14, 22, 12, 57, tzinfo=UTC)
    base = f"https://alerts.newrelic.com/accounts/3456789/incidents/{INCIDENT}"
    assert alert.links == {
        "newrelic": base,
        "runbook": "https://runbooks.acme.example/checkout-5xx",
        "image": "https://gorgon.nr-assets.net/image/6f5e4d3c-2b1a-4098-8765-43210fedcba9?config.legend.enabled=false",
        "acknowledge": f"{base}/acknowledge",
        "policy": "https://alerts.newrelic.com/accounts/3456789/policies/5123987",
        "generator": f"{base}/violations",
        "entity": "https://rpm.newrelic.com/accounts/3456789/applications/1187654321",
    }


def test_normalize_legacy_acknowledge_and_close(nr: NewRelicSource) -> None:
    ack = nr.normalize(load("legacy_acknowledged.json"))
    assert ack.lifecycle is Lifecycle.acknowledged
    assert ack.annotations["owner"] == "Dana Reyes"
    assert ack.started_at is None  # the legacy timestamp is the acknowledgement's, not the start
    closed = nr.normalize(load("legacy_closed.json"))
    assert closed.lifecycle is Lifecycle.resolved
    assert closed.ended_at == datetime(2026, 3, 14, 22, 32, 57, tzinfo=UTC)


def test_normalize_legacy_custom_payload_of_strings(nr: NewRelicSource) -> None:
    alert = nr.normalize(load("legacy_custom_payload.json"))
    assert alert.title == "Orders DB connections on 'orders-db-primary'"  # targets sent as JSON text
    assert alert.service == "orders-db"
    assert alert.severity is Severity.medium  # WARNING
    assert alert.fingerprint == "48213377"
    assert "runbook" not in alert.links  # "$RUNBOOK_URL" was not filled
    assert alert.links["entity"] == "https://infra.newrelic.com/accounts/3456789/hosts/orders-db-primary"
    assert alert.started_at == datetime(2026, 3, 14, 22, 12, 57, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "title"),
    [
        ({"issueTitle": "from issueTitle"}, "from issueTitle"),
        ({"title": ["first", "second"]}, "first"),
        ({"annotations": {"title": ["annotated"]}}, "annotated"),
        ({"alertConditionNames": ["cond"]}, "cond"),
        ({"condition_name": "cond", "targets": [{"name": "web"}]}, "cond on 'web'"),
        ({"details": "only details"}, "only details"),
    ],
)
def test_title_sources(nr: NewRelicSource, body: dict[str, Any], title: str) -> None:
    assert nr.normalize(body).title == title


@pytest.mark.parametrize("item", ["text", 42, None, [{"title": "t"}], True])
def test_non_objects_are_refused(nr: NewRelicSource, item: Any) -> None:
    with pytest.raises(NormalizationError, match="not a New Relic notification"):
        nr.normalize(item)


@pytest.mark.parametrize(
    "item", [{}, {"id": ISSUE, "state": "ACTIVATED"}, {"title": ""}, {"title": [None]}, {"title": "null"}]
)
def test_bodies_without_a_title_are_refused(nr: NewRelicSource, item: dict[str, Any]) -> None:
    with pytest.raises(NormalizationError, match="no title"):
        nr.normalize(item)


@pytest.mark.parametrize(
    ("entities", "service"),
    [
        (["api"], "api"),
        ([{"name": "api", "type": "APPLICATION"}], "api"),
        ("api, worker", "api"),
        ('["api","worker"]', "api"),
        (3, None),  # impactedEntitiesCount rendered under this key
        ([], None),
        (None, None),
    ],
)
def test_impacted_entities_in_every_form(nr: NewRelicSource, entities: Any, service: str | None) -> None:
    assert nr.normalize({"title": "t", "impactedEntities": entities}).service == service


# --- severity -----------------------------------------------------------------------------------


def test_severity_table() -> None:
    assert {
        "critical": Severity.critical,
        "high": Severity.high,
        "medium": Severity.medium,
        "low": Severity.low,
        "warning": Severity.medium,
        "info": Severity.info,
    } == SEVERITY


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"priority": "CRITICAL"}, Severity.critical),
        ({"priority": "HIGH"}, Severity.high),
        ({"priority": "MEDIUM"}, Severity.medium),
        ({"priority": "LOW"}, Severity.low),
        ({"priorityText": "Low"}, Severity.low),
        ({"severity": "CRITICAL"}, Severity.critical),
        ({"severity": "WARNING"}, Severity.medium),
        ({"severity": "INFO"}, Severity.info),
        ({"priority": "HIGH", "severity": "INFO"}, Severity.high),  # the issue priority wins
        ({"priority": "P2"}, Severity.high),  # free text falls back to parse_severity
        ({"priority": True}, Severity.medium),
        ({}, Severity.medium),
    ],
)
def test_severity_sources(nr: NewRelicSource, fields: dict[str, Any], expected: Severity) -> None:
    assert nr.normalize({"title": "t", **fields}).severity is expected


# --- properties ---------------------------------------------------------------------------------

_json = json_values(max_leaves=25)
_edgy = (
    _json
    | st.integers(min_value=2**53, max_value=2**80)
    | st.sampled_from(
        ["ACTIVATED", "CLOSED", "acknowledged", "INCIDENT_ADDED", "PRIORITY_CHANGED", "CLOSE_TTL", "CRITICAL"]
    )
    | st.sampled_from(["$INCIDENT_ID", "null", "", "[", "[]", '["a","b"]', "[1e999]", "a, b", "1773526377000"])
    | st.lists(st.sampled_from(["checkout", "", None, {"name": "x"}, 5]), max_size=3)
)
_WORKFLOW = [
    "id",
    "issueId",
    "issueUrl",
    "title",
    "issueTitle",
    "priority",
    "impactedEntities",
    "totalIncidents",
    "state",
    "trigger",
    "triggerEvent",
    "isCorrelated",
    "createdAt",
    "updatedAt",
    "closedAt",
    "alertPolicyNames",
    "alertConditionNames",
    "workflowName",
    "service",
    "tags",
]
_LEGACY = [
    "incident_id",
    "current_state",
    "event_type",
    "condition_name",
    "policy_name",
    "details",
    "severity",
    "timestamp",
    "incident_url",
    "runbook_url",
    "violation_chart_url",
    "owner",
    "account_id",
]
_workflow = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(_WORKFLOW, _edgy),
        "accumulations": st.fixed_dictionaries({}, optional=dict.fromkeys(["policyName", "runbookUrl", "tag"], _edgy)),
        "entitiesData": st.fixed_dictionaries({}, optional={"names": _edgy, "entities": _edgy}),
        "labels": st.dictionaries(st.sampled_from(["k8s.namespaceName", "k8s.podName", "service"]), _edgy),
        "annotations": st.fixed_dictionaries({}, optional={"title": _edgy, "description": _edgy}),
    },
)
_target = st.fixed_dictionaries({}, optional={"name": _edgy, "link": _edgy, "labels": _edgy, "product": _edgy})
_legacy = st.fixed_dictionaries(
    {}, optional={**dict.fromkeys(_LEGACY, _edgy), "targets": st.lists(_target | _json, max_size=2) | _edgy}
)
payloads = _json | _workflow | _legacy | st.lists(_workflow, max_size=2)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, headers=st.dictionaries(st.text(max_size=10), st.text(max_size=20)))
def test_any_json_gives_an_alert_or_a_normalization_error(payload: Any, headers: dict[str, str]) -> None:
    source = NewRelicSource()
    assert source.split(payload) == [payload]
    check_never_raises(source, payload, headers)


@settings(max_examples=300, deadline=None)
@given(
    ident=st.uuids().map(str) | st.integers(min_value=1, max_value=2**70),
    id_field=st.sampled_from(["id", "issueId", "incident_id"]),
    states=st.lists(
        st.tuples(
            st.sampled_from(["CREATED", "ACTIVATED", "ACKNOWLEDGED", "CLOSED", "open", "acknowledged", "closed"]),
            st.sampled_from([None, "STATE_CHANGE", "INCIDENT_ADDED", "PRIORITY_CHANGED", "USER_ACTION"]),
            st.sampled_from(["CRITICAL", "HIGH", "LOW"]),
        ),
        min_size=2,
        max_size=4,
    ),
)
def test_every_notification_of_one_issue_shares_a_key(
    ident: str | int, id_field: str, states: list[tuple[str, str | None, str]]
) -> None:
    source = NewRelicSource()
    keys = set()
    for state, trigger, priority in states:
        body: dict[str, Any] = {id_field: ident, "state": state, "priority": priority, "title": f"t {state}"}
        if trigger:
            body["trigger"] = trigger
        keys.add(source.stream_key(body))
        assert source.normalize(body).fingerprint == str(ident)
    assert keys == {f"newrelic:{ident}"}
