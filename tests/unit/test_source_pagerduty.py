"""PagerDuty source: V3 webhooks (one event per body) and deprecated V2 (`messages`), written from
PagerDuty's developer documentation (webhooks v3 overview, v2 overview)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.alert_sources.base import MAX_STREAM_KEY, AlertSource
from adapters.alert_sources.pagerduty import PagerDutySource
from domain.models import Lifecycle, NormalizationError, Severity
from tests.unit.source_checks import (
    check_never_raises,
    claimed_fixtures,
    detected_slugs,
    fixture_names,
    json_values,
    load_fixture,
    mutated_fixtures,
)

INCIDENT = "Q0RIJJZL24RC6W"
V3_HEADERS = {
    "user-agent": "PagerDuty-Webhook/V3.0",
    "x-pagerduty-signature": "v1=f4c2a9d6e1b7c3a8f5e2d9b6c1a7f3e8d4b2c9a6f1e7d3b8c5a2f9e6d1b4c7a3",
    "x-webhook-id": "7a9f3c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6b",
    "x-webhook-subscription": "PY1OA5G",
    "content-type": "application/json",
}
PD_FIXTURES = fixture_names("pagerduty")


def load(name: str) -> Any:
    return load_fixture("pagerduty", name)


def with_event_type(event_type: str, base: str = "triggered.json") -> dict[str, Any]:
    body = load(base)
    body["event"]["event_type"] = event_type
    return body


@pytest.fixture
def pd() -> PagerDutySource:
    return PagerDutySource()


# --- detection ----------------------------------------------------------------------------------


def test_satisfies_the_protocol(pd: PagerDutySource) -> None:
    assert isinstance(pd, AlertSource)
    assert pd.slug == "pagerduty"


@pytest.mark.parametrize("name", PD_FIXTURES)
def test_every_fixture_is_detected_by_its_body_alone_and_by_nobody_else(name: str) -> None:
    # pagey.ping and service.updated included: detection says PagerDuty, normalize refuses them later.
    assert detected_slugs(load(name), {"user-agent": "curl/8.4.0"}) == ["pagerduty"]


@pytest.mark.parametrize(
    "headers",
    [
        {"user-agent": "PagerDuty-Webhook/V3.0"},
        {"user-agent": "PagerDuty-Webhook/V2.0"},
        {"x-pagerduty-signature": "v1=00ff,v1=aa11"},
    ],
)
def test_vendor_headers_are_enough_whatever_the_body(pd: PagerDutySource, headers: dict[str, str]) -> None:
    assert pd.detect({"title": "x"}, headers)
    assert pd.detect(None, headers)


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "disk full", "severity": "high"},
        {"version": "1", "orgId": 1, "status": "firing", "alerts": [{"labels": {"alertname": "A"}}]},  # Grafana
        {"event_type": "incident.triggered", "title": "flat, not nested"},  # a templated generic body
        {"event": "incident.trigger", "title": "x"},  # a V2 message without the envelope
        {"event": {"event_type": "incident.triggered"}},  # no data / resource_type
        {"event": {"event_type": "triggered", "resource_type": "incident", "data": {}, "id": "1"}},  # no dot
        {"event": {"event_type": 5, "resource_type": "incident", "data": {}, "id": "1"}},
        {"messages": []},
        {"messages": [{"event": "deploy.finished", "incident": {}}]},
        {"messages": [{"event": "incident.trigger", "incident": "PRORDTY"}]},
        {"messages": "incident.trigger"},
        [{"event": {"event_type": "incident.triggered"}}],
        "incident.triggered",
        None,
        42,
    ],
)
def test_other_bodies_are_not_pagerduty(pd: PagerDutySource, payload: Any) -> None:
    assert pd.detect(payload, {"user-agent": "curl/8.4.0"}) is False


def test_other_vendors_fixtures_are_not_detected(pd: PagerDutySource) -> None:
    assert claimed_fixtures(pd) == []
    assert claimed_fixtures(pd, {"user-agent": "Alertmanager/0.27.0"}) == []


# --- split --------------------------------------------------------------------------------------


def test_v3_body_is_one_item(pd: PagerDutySource) -> None:
    body = load("triggered.json")
    assert pd.split(body) == [body]


def test_v2_body_splits_into_its_messages(pd: PagerDutySource) -> None:
    body = load("v2_messages.json")
    items = pd.split(body)
    assert [item["id"] for item in items] == [m["id"] for m in body["messages"]]
    assert [item["event"] for item in items] == ["incident.trigger", "incident.acknowledge", "incident.resolve"]
    assert [pd.lifecycle(i) for i in items] == [Lifecycle.firing, Lifecycle.acknowledged, Lifecycle.resolved]
    # Each stored item is self-contained: normalizing it needs nothing from the envelope.
    assert [pd.normalize(copy.deepcopy(i)).fingerprint for i in items] == ["PRORDTY", "PRORDTY", "P7XK2QD"]


@pytest.mark.parametrize("payload", [{"messages": []}, {"messages": "x"}, {"title": "x"}, [1, 2], "text", None, 3])
def test_unexpected_shapes_are_one_item(pd: PagerDutySource, payload: Any) -> None:
    assert pd.split(payload) == [payload]


# --- lifecycle ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("incident.triggered", Lifecycle.firing),
        ("incident.reopened", Lifecycle.firing),
        ("incident.unacknowledged", Lifecycle.firing),
        ("incident.acknowledged", Lifecycle.acknowledged),
        ("incident.resolved", Lifecycle.resolved),
        ("INCIDENT.RESOLVED", Lifecycle.resolved),
        ("incident.reassigned", Lifecycle.updated),
        ("incident.escalated", Lifecycle.updated),
        ("incident.delegated", Lifecycle.updated),
        ("incident.priority_updated", Lifecycle.updated),
        ("incident.annotated", Lifecycle.updated),
        ("incident.responder.added", Lifecycle.updated),
        ("incident.responder.replied", Lifecycle.updated),
        ("incident.status_update_published", Lifecycle.updated),
        ("incident.conference_bridge.updated", Lifecycle.updated),
        ("incident.workflow.started", Lifecycle.updated),
        ("incident.workflow.completed", Lifecycle.updated),
        ("incident.incident_type.changed", Lifecycle.updated),
        ("incident.custom_field_values.updated", Lifecycle.updated),
        ("incident.something_new_in_2030", Lifecycle.updated),  # about an existing incident: never opens one
    ],
)
def test_v3_lifecycle_per_event_type(pd: PagerDutySource, event_type: str, expected: Lifecycle) -> None:
    assert pd.lifecycle(with_event_type(event_type)) is expected


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("incident.trigger", Lifecycle.firing),
        ("incident.unacknowledge", Lifecycle.firing),
        ("incident.acknowledge", Lifecycle.acknowledged),
        ("incident.resolve", Lifecycle.resolved),
        ("incident.assign", Lifecycle.updated),
        ("incident.escalate", Lifecycle.updated),
        ("incident.delegate", Lifecycle.updated),
        ("incident.annotate", Lifecycle.updated),
    ],
)
def test_v2_lifecycle_per_event(pd: PagerDutySource, event: str, expected: Lifecycle) -> None:
    message = load("v2_messages.json")["messages"][0]
    message["event"] = event
    assert pd.lifecycle(message) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [("triggered", Lifecycle.firing), ("acknowledged", Lifecycle.acknowledged), ("resolved", Lifecycle.resolved)],
)
def test_lifecycle_without_event_type_follows_the_incident_status(
    pd: PagerDutySource, status: str, expected: Lifecycle
) -> None:
    body = load("triggered.json")
    del body["event"]["event_type"]
    body["event"]["data"]["status"] = status
    assert pd.lifecycle(body) is expected


@pytest.mark.parametrize("name", ["ping.json", "service_updated.json"])
def test_non_incident_events_go_the_firing_path_to_be_dead_lettered(pd: PagerDutySource, name: str) -> None:
    # Firing starts a run whose normalize step dead-letters the body with the reason; "updated" would
    # only be recorded as an orphan and the reason would be lost.
    assert pd.lifecycle(load(name)) is Lifecycle.firing


@pytest.mark.parametrize("item", [None, "incident.resolved", {"event": "incident.resolve"}, [{"status": "resolved"}]])
def test_lifecycle_of_odd_items_is_firing(pd: PagerDutySource, item: Any) -> None:
    assert pd.lifecycle(item) is Lifecycle.firing


# --- stream keys --------------------------------------------------------------------------------


def test_every_event_of_one_incident_shares_the_incident_key(pd: PagerDutySource) -> None:
    names = [
        "triggered.json",
        "acknowledged.json",
        "priority_updated.json",
        "annotated.json",
        "responder_added.json",
        "resolved.json",
    ]
    keys = {pd.stream_key(load(name)) for name in names}
    assert keys == {f"pagerduty:{INCIDENT}"}
    # The note's own id (P2LA89X) and the event ids are per-event: never the key.
    assert "P2LA89X" not in pd.stream_key(load("annotated.json"))


def test_reopened_incident_reaches_the_same_stream(pd: PagerDutySource) -> None:
    reopened = with_event_type("incident.reopened", "resolved.json")
    assert pd.stream_key(reopened) == pd.stream_key(load("triggered.json"))
    assert pd.lifecycle(reopened) is Lifecycle.firing


def test_different_incidents_get_different_keys(pd: PagerDutySource) -> None:
    assert pd.stream_key(load("triggered_minimal.json")) == "pagerduty:Q2B7XK4MNP9RTS"
    assert pd.stream_key(load("triggered_minimal.json")) != pd.stream_key(load("triggered.json"))
    v2 = [pd.stream_key(m) for m in pd.split(load("v2_messages.json"))]
    assert v2 == ["pagerduty:PRORDTY", "pagerduty:PRORDTY", "pagerduty:P7XK2QD"]


def test_v2_and_v3_events_of_one_incident_share_the_key(pd: PagerDutySource) -> None:
    v3 = load("resolved.json")
    v3["event"]["data"]["id"] = "PRORDTY"
    assert pd.stream_key(v3) == pd.stream_key(load("v2_messages.json")["messages"][0])


def test_key_without_incident_id_hashes_title_and_service(pd: PagerDutySource) -> None:
    one = load("triggered.json")
    del one["event"]["data"]["id"]
    other = copy.deepcopy(one)
    other["event"]["data"]["title"] = "Another problem"
    key = pd.stream_key(one)
    assert key.startswith("pagerduty:")
    assert key != f"pagerduty:{INCIDENT}"
    assert key == pd.stream_key(copy.deepcopy(one))
    assert key != pd.stream_key(other)


def test_long_or_odd_ids_are_bounded(pd: PagerDutySource) -> None:
    body = load("triggered.json")
    body["event"]["data"]["id"] = "Q" * 500
    key = pd.stream_key(body)
    assert key.startswith("pagerduty:h:")
    assert len(key) <= MAX_STREAM_KEY
    body["event"]["data"]["id"] = "bad\ud800id"  # JSON "\ud800": a lone surrogate
    assert pd.stream_key(body).startswith("pagerduty:")


# --- normalize ----------------------------------------------------------------------------------


def test_normalize_triggered_field_by_field(pd: PagerDutySource) -> None:
    alert = pd.normalize(load("triggered.json"))
    assert alert.source == "pagerduty"
    assert alert.title == "Checkout API 5xx error rate above 5%"
    assert alert.description == "The 5xx ratio on checkout-api has been above 5% for 5 minutes (current 12.4%)."
    assert alert.severity is Severity.critical  # P1
    assert alert.lifecycle is Lifecycle.firing
    assert alert.service == "checkout-api"
    assert (alert.namespace, alert.pod, alert.deployment) == (None, None, None)
    assert alert.labels == {
        "event_type": "incident.triggered",
        "status": "triggered",
        "urgency": "high",
        "priority": "P1",
        "incident_number": "4821",
        "incident_key": "9f3c1a7e2b6d4e0f8a1b2c3d4e5f6a7b",
        "service_id": "PX4WQ2N",
        "escalation_policy": "Payments On-Call",
        "teams": "Payments,SRE",
        "assignees": "Dana Whitfield",
        "incident_type": "incident_default",
    }
    assert alert.annotations == {"agent": "checkout-api", "event_id": "01DEN3AXWNXJ0FCTUNBDGA6N1S"}
    assert alert.links == {
        "pagerduty": "https://acme-corp.pagerduty.com/incidents/Q0RIJJZL24RC6W",
        "conference": "https://acme-corp.zoom.us/j/98765432101",
    }
    assert alert.fingerprint == INCIDENT
    assert alert.started_at == datetime(2024, 3, 14, 9, 26, 52, tzinfo=UTC)
    assert alert.ended_at is None


def test_normalize_acknowledged_and_resolved(pd: PagerDutySource) -> None:
    ack = pd.normalize(load("acknowledged.json"))
    assert ack.lifecycle is Lifecycle.acknowledged
    assert ack.annotations["agent"] == "Dana Whitfield"
    assert ack.ended_at is None
    resolved = pd.normalize(load("resolved.json"))
    assert resolved.lifecycle is Lifecycle.resolved
    assert resolved.fingerprint == INCIDENT
    assert resolved.ended_at == datetime(2024, 3, 14, 9, 58, 41, 9000, tzinfo=UTC)  # occurred_at


def test_normalize_note_event_uses_the_incident_reference(pd: PagerDutySource) -> None:
    alert = pd.normalize(load("annotated.json"))
    assert alert.lifecycle is Lifecycle.updated
    assert alert.title == "Checkout API 5xx error rate above 5%"  # the reference's summary
    assert alert.description == "Rolled back checkout-api to v2024.03.13-2; error rate dropping."
    assert alert.annotations["note"] == alert.description
    assert alert.fingerprint == INCIDENT
    assert alert.links == {"pagerduty": "https://acme-corp.pagerduty.com/incidents/Q0RIJJZL24RC6W"}
    assert alert.service is None  # a reference carries no service
    responder = pd.normalize(load("responder_added.json"))
    assert responder.annotations["note"].startswith("Need a database engineer")


def test_normalize_v2_trigger_reads_details_from_the_log_entry(pd: PagerDutySource) -> None:
    trigger, _, resolve = pd.split(load("v2_messages.json"))
    alert = pd.normalize(trigger)
    assert alert.title == "XDB replication lag above 300s on xdb-replica-2"
    assert alert.severity is Severity.high  # P2
    assert alert.service == "Production XDB Cluster"
    assert alert.namespace == "databases"
    assert alert.pod == "xdb-replica-2"
    assert alert.annotations["replication_lag_seconds"] == "412"
    assert alert.links == {
        "runbook": "https://runbooks.acme-corp.net/xdb/replication-lag",
        "pagerduty": "https://webdemo.pagerduty.com/incidents/PRORDTY",
    }
    assert alert.labels["assignees"] == "Laura Haley"  # V2 assignments wrap the user
    assert alert.started_at == datetime(2017, 9, 26, 15, 14, 36, tzinfo=UTC)
    done = pd.normalize(resolve)
    assert done.severity is Severity.low  # no priority: urgency low
    assert done.ended_at == datetime(2017, 9, 26, 15, 15, 40, tzinfo=UTC)


def test_normalize_a_whole_v2_body_with_one_message(pd: PagerDutySource) -> None:
    body = load("v2_messages.json")
    body["messages"] = body["messages"][2:]
    assert pd.normalize(body).fingerprint == "P7XK2QD"
    assert pd.lifecycle(body) is Lifecycle.resolved


def test_minimal_incident_with_nulls_and_strings(pd: PagerDutySource) -> None:
    alert = pd.normalize(load("triggered_minimal.json"))
    assert alert.title == "Nightly billing export job failed"
    assert alert.severity is Severity.low  # priority null, urgency low
    assert alert.labels["incident_number"] == "4822"  # sent as a string
    assert "priority" not in alert.labels
    assert "conference" not in alert.links
    assert alert.description == ""
    assert alert.started_at == datetime(2024, 3, 14, 11, 2, 7, 550000, tzinfo=UTC)  # no created_at: occurred_at


def test_liberal_about_types(pd: PagerDutySource) -> None:
    body = load("triggered.json")
    data = body["event"]["data"]
    data["number"] = 98765432109876543210987654321  # a huge int stays exact
    data["priority"] = "P4"  # a plain string instead of a reference
    data["urgency"] = "HIGH"
    data["service"] = None
    data["teams"] = "not a list"
    data["assignees"] = [None, 7, {"summary": {"nested": 1}, "id": "PUSER01"}]
    data["body"] = {"details": {"description": "from a details object", "Namespace": "shop", "pod": 12}}
    data["created_at"] = 1710408412
    alert = pd.normalize(body)
    assert alert.labels["incident_number"] == "98765432109876543210987654321"
    assert alert.severity is Severity.low
    assert alert.service is None
    assert "teams" not in alert.labels
    assert alert.labels["assignees"] == "PUSER01"
    assert alert.description == "from a details object"
    assert (alert.namespace, alert.pod) == ("shop", "12")
    assert alert.started_at == datetime(2024, 3, 14, 9, 26, 52, tzinfo=UTC)


def test_lone_surrogates_are_escaped_so_the_alert_serializes(pd: PagerDutySource) -> None:
    body = load("triggered.json")
    body["event"]["data"]["title"] = "bad \ud800 title"
    body["event"]["data"]["body"]["details"] = {"k\udfff": "v\ud800"}
    alert = pd.normalize(body)
    assert alert.title == "bad \\ud800 title"
    assert alert.annotations["k\\udfff"] == "v\\ud800"
    json.loads(alert.model_dump_json())  # would raise UnicodeEncodeError on a lone surrogate


def test_note_without_incident_summary_still_has_a_title(pd: PagerDutySource) -> None:
    body = load("annotated.json")
    del body["event"]["data"]["incident"]["summary"]
    assert pd.normalize(body).title == f"PagerDuty incident {INCIDENT}"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (load("ping.json"), "pagey.ping"),
        (load("service_updated.json"), "'service.updated' is about a 'service', not an incident"),
        ({"event": {}}, r"'\(no event_type\)' is about a 'unknown', not an incident"),
        ({"event": {"event_type": "incident.triggered", "data": None}}, "carries no incident"),
        ({"event": {"event_type": "incident.annotated", "data": {"type": "incident_note"}}}, "carries no incident"),
        ({"event": {"event_type": "incident.triggered", "data": {"type": "incident", "urgency": "high"}}}, "no title"),
        ({"title": "x"}, "not a PagerDuty webhook"),
        ({"messages": []}, "not a PagerDuty webhook"),
        ("text", "not a PagerDuty webhook"),
        (None, "not a PagerDuty webhook"),
    ],
)
def test_normalization_errors_say_what_is_wrong(pd: PagerDutySource, item: Any, reason: str) -> None:
    with pytest.raises(NormalizationError, match=reason):
        pd.normalize(item)


# --- severity -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "urgency", "expected"),
    [
        ({"summary": "P1"}, "low", Severity.critical),  # the priority wins over urgency
        ({"summary": "P2"}, "low", Severity.high),
        ({"summary": "P3"}, "high", Severity.medium),
        ({"summary": "P4"}, "high", Severity.low),
        ({"summary": "P5"}, "high", Severity.info),
        ({"summary": "p 2"}, None, Severity.high),
        ({"name": "P3"}, None, Severity.medium),
        ({"summary": "SEV-1"}, "low", Severity.critical),  # custom priority names: parse_severity
        ({"summary": "Major"}, "low", Severity.high),
        ({"summary": "Whatever"}, "low", Severity.low),  # unknown name: the urgency decides
        (None, "high", Severity.high),
        (None, "low", Severity.low),
        (None, None, Severity.medium),
        (None, "medium-ish", Severity.medium),
        ({"summary": None}, "high", Severity.high),
    ],
)
def test_severity_table(pd: PagerDutySource, priority: Any, urgency: Any, expected: Severity) -> None:
    body = load("triggered.json")
    body["event"]["data"]["priority"] = priority
    body["event"]["data"]["urgency"] = urgency
    assert pd.normalize(body).severity is expected


# --- property: any JSON value ------------------------------------------------------------------

_json = json_values(max_leaves=20)
_V3_TYPES = [
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.annotated",
    "incident.priority_updated",
    "incident.responder.added",
    "service.updated",
    "pagey.ping",
]
_V2_TYPES = ["incident.trigger", "incident.acknowledge", "incident.resolve", "incident.annotate"]
_edgy = _json | st.sampled_from(
    [
        *_V3_TYPES,
        "P1",
        "P5",
        "SEV-2",
        "high",
        "low",
        "incident",
        "incident_note",
        "resolved",
        "",
        " ",
        "\ud800",
        "x\udfffy",
        "Q" * 300,
        10**30,
        2**64,
        "2024-03-14T09:26:52Z",
        "9999-12-31T23:59:59-05:00",
        1710408412,
    ]
)
_ref = st.fixed_dictionaries(
    {}, optional={"id": _edgy, "summary": _edgy, "name": _edgy, "html_url": _edgy, "type": _edgy}
)
_refs = st.lists(_ref | _edgy, max_size=3) | _edgy
_INCIDENT_FIELDS = {
    "id": _edgy,
    "type": st.sampled_from(["incident", "incident_note", "incident_responder", "service"]) | _edgy,
    "title": _edgy,
    "summary": _edgy,
    "status": st.sampled_from(["triggered", "acknowledged", "resolved"]) | _edgy,
    "number": _edgy,
    "incident_key": _edgy,
    "created_at": _edgy,
    "html_url": _edgy,
    "service": _ref | _edgy,
    "priority": _ref | _edgy,
    "urgency": _edgy,
    "assignees": _refs,
    "assignments": st.lists(st.fixed_dictionaries({"assignee": _ref | _edgy}), max_size=2) | _edgy,
    "teams": _refs,
    "escalation_policy": _ref | _edgy,
    "conference_bridge": st.fixed_dictionaries({}, optional={"conference_url": _edgy}) | _edgy,
    "body": st.fixed_dictionaries({}, optional={"details": _edgy | st.dictionaries(st.text(), _edgy, max_size=3)})
    | _edgy,
    "incident": _ref | _edgy,
    "content": _edgy,
    "message": _edgy,
    "incident_type": _ref | _edgy,
    "last_status_change_at": _edgy,
}
_any_incident = st.fixed_dictionaries({}, optional=_INCIDENT_FIELDS)
# Mostly-valid incidents so normalize gets past its first checks and reaches the field mapping.
_incident = _any_incident | st.fixed_dictionaries(
    {"id": st.text(min_size=1) | _edgy, "title": st.text(min_size=1) | _edgy, "type": st.just("incident")},
    optional={k: v for k, v in _INCIDENT_FIELDS.items() if k not in ("id", "title", "type")},
)
_note = st.fixed_dictionaries(
    {"incident": _ref, "type": st.sampled_from(["incident_note", "incident_responder", "incident_status_update"])},
    optional={"id": _edgy, "content": _edgy, "message": _edgy},
)
_event = st.fixed_dictionaries(
    {"event_type": st.sampled_from(_V3_TYPES) | _edgy, "data": _incident | _note | _edgy},
    optional={"id": _edgy, "resource_type": _edgy, "occurred_at": _edgy, "agent": _ref | _edgy},
)
_v3 = st.fixed_dictionaries({"event": _event})
_channel = st.fixed_dictionaries(
    {},
    optional={
        "details": _edgy | st.dictionaries(st.text(), _edgy),
        "cef_details": st.fixed_dictionaries({"details": _edgy}),
    },
)
_message = st.fixed_dictionaries(
    {"event": st.sampled_from(_V2_TYPES) | _edgy, "incident": _incident | _edgy},
    optional={
        "log_entries": st.lists(st.fixed_dictionaries({}, optional={"channel": _channel | _edgy}), max_size=2) | _edgy,
        "created_on": _edgy,
        "id": _edgy,
    },
)
_v2 = st.fixed_dictionaries({"messages": st.lists(_message | _json, max_size=3) | _json})


_FIXTURE_BODIES = [load(name) for name in PD_FIXTURES]
payloads = st.one_of(_json, _v3, _v2, mutated_fixtures(_FIXTURE_BODIES, _edgy))
_SOURCE = PagerDutySource()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads)
def test_never_raises_unexpected_errors(payload: Any) -> None:
    assert _SOURCE.detect(payload, {"user-agent": "PagerDuty-Webhook/V3.0"}) is True
    check_never_raises(_SOURCE, payload)
