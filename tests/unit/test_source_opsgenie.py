"""Opsgenie source: the outgoing Webhook integration's alert-action bodies, written from Opsgenie's
webhook integration and alert-action-data documentation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.alert_sources.base import MAX_STREAM_KEY, AlertSource
from adapters.alert_sources.opsgenie import OpsgenieSource
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

ALIAS = "checkout-latency-p99-prod"
OG_FIXTURES = fixture_names("opsgenie")


def load(name: str) -> Any:
    return load_fixture("opsgenie", name)


def with_action(action: str, base: str = "create.json") -> dict[str, Any]:
    body = load(base)
    body["action"] = action
    return body


@pytest.fixture
def og() -> OpsgenieSource:
    return OpsgenieSource()


# --- detection ----------------------------------------------------------------------------------


def test_satisfies_the_protocol(og: OpsgenieSource) -> None:
    assert isinstance(og, AlertSource)
    assert og.slug == "opsgenie"


@pytest.mark.parametrize("name", OG_FIXTURES)
def test_every_fixture_is_detected_and_by_nobody_else(name: str) -> None:
    assert detected_slugs(load(name), {"user-agent": "Apache-HttpClient/4.5.13 (Java/17.0.8)"}) == ["opsgenie"]


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "disk full", "severity": "high"},
        {"action": "Create", "title": "x"},
        {"action": "Create", "alert": {"message": "no alertId"}, "integrationName": "x"},
        {"action": "Create", "alert": {"alertId": "a1"}},  # neither integration keys nor a source object
        {"action": "Create", "alert": {"alertId": "a1"}, "source": "web"},  # source must be an object
        {"action": "", "alert": {"alertId": "a1"}, "integrationId": "i"},
        {"action": 1, "alert": {"alertId": "a1"}, "integrationId": "i"},
        {"action": "Create", "alert": ["alertId"], "integrationId": "i"},
        {"version": "1", "orgId": 1, "status": "firing", "alerts": [{"labels": {"alertname": "A"}}]},  # Grafana
        [{"action": "Create", "alert": {"alertId": "a1"}, "integrationId": "i"}],
        "Create",
        None,
        7,
    ],
)
def test_other_bodies_are_not_opsgenie(og: OpsgenieSource, payload: Any) -> None:
    assert og.detect(payload, {"user-agent": "curl/8.4.0"}) is False


def test_other_vendors_fixtures_are_not_detected(og: OpsgenieSource) -> None:
    assert claimed_fixtures(og) == []


def test_the_minimal_documented_body_is_detected(og: OpsgenieSource) -> None:
    # Opsgenie's own example: action, alert (subset of fields) and the source object.
    body = {
        "action": "Acknowledge",
        "alert": {"alertId": "44f717bf-44bd-11c9-44c7-2d0cf1d07b23", "message": "Test alert", "tinyId": "454"},
        "source": {"name": "", "type": "web"},
    }
    assert og.detect(body, {})


# --- split --------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [load("create.json"), {"alerts": [1, 2]}, [1, 2], "text", None])
def test_split_is_always_the_body(og: OpsgenieSource, payload: Any) -> None:
    assert og.split(payload) == [payload]


# --- lifecycle ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("Create", Lifecycle.firing),
        ("create", Lifecycle.firing),
        ("UnAcknowledge", Lifecycle.firing),
        ("Acknowledge", Lifecycle.acknowledged),
        ("ACKNOWLEDGE", Lifecycle.acknowledged),
        ("Close", Lifecycle.resolved),
        ("Delete", Lifecycle.resolved),
        ("AddNote", Lifecycle.updated),
        ("AddTags", Lifecycle.updated),
        ("RemoveTags", Lifecycle.updated),
        ("AddTeam", Lifecycle.updated),
        ("AssignOwnership", Lifecycle.updated),
        ("TakeOwnership", Lifecycle.updated),
        ("Escalate", Lifecycle.updated),
        ("EscalateNext", Lifecycle.updated),
        ("AddRecipient", Lifecycle.updated),
        ("AddResponder", Lifecycle.updated),
        ("UpdatePriority", Lifecycle.updated),
        ("UpdateMessage", Lifecycle.updated),
        ("UpdateDescription", Lifecycle.updated),
        ("CustomAction", Lifecycle.updated),
        ("Restart Pod", Lifecycle.updated),  # a custom action's own name
        ("Snooze", Lifecycle.updated),
        ("SomethingNewIn2030", Lifecycle.updated),  # an action on an existing alert: never opens one
    ],
)
def test_lifecycle_per_action(og: OpsgenieSource, action: str, expected: Lifecycle) -> None:
    assert og.lifecycle(with_action(action)) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("create.json", Lifecycle.firing),
        ("create_minimal.json", Lifecycle.firing),
        ("acknowledge.json", Lifecycle.acknowledged),
        ("add_note.json", Lifecycle.updated),
        ("escalate.json", Lifecycle.updated),
        ("close.json", Lifecycle.resolved),
        ("delete.json", Lifecycle.resolved),
    ],
)
def test_lifecycle_of_fixtures(og: OpsgenieSource, name: str, expected: Lifecycle) -> None:
    assert og.lifecycle(load(name)) is expected


@pytest.mark.parametrize(
    "item",
    [None, "Close", {"action": "Close"}, {"action": "Close", "alert": "x"}, {"alert": {"alertId": "a"}}],
)
def test_lifecycle_of_odd_items_is_firing(og: OpsgenieSource, item: Any) -> None:
    assert og.lifecycle(item) is Lifecycle.firing


# --- stream keys --------------------------------------------------------------------------------


def test_every_action_on_one_alert_shares_the_alias_key(og: OpsgenieSource) -> None:
    names = ["create.json", "acknowledge.json", "add_note.json", "escalate.json", "close.json", "delete.json"]
    assert {og.stream_key(load(name)) for name in names} == {f"opsgenie:{ALIAS}"}


def test_alert_id_is_the_key_when_there_is_no_alias(og: OpsgenieSource) -> None:
    key = og.stream_key(load("create_minimal.json"))  # alias ""
    assert key == "opsgenie:b7e2f4a9-1c3d-4e5f-8a6b-9c0d1e2f3a4b-1686920000999"
    close = load("create_minimal.json")
    close["action"] = "Close"
    del close["alert"]["alias"]
    assert og.stream_key(close) == key


def test_different_alerts_get_different_keys(og: OpsgenieSource) -> None:
    keys = {og.stream_key(load(name)) for name in ("create.json", "create_minimal.json", "create_quirks.json")}
    assert len(keys) == 3


def test_key_without_ids_hashes_message_and_service(og: OpsgenieSource) -> None:
    one = {"action": "Create", "alert": {"message": "Disk full", "tags": ["service:db"]}}
    same = {"action": "Close", "alert": {"message": "Disk full", "details": {"service": "db"}}}
    other = {"action": "Create", "alert": {"message": "Disk full", "tags": ["service:web"]}}
    key = og.stream_key(one)
    assert key.startswith("opsgenie:")
    assert key == og.stream_key(same)
    assert key != og.stream_key(other)


def test_huge_integer_ids_are_exact_in_keys(og: OpsgenieSource) -> None:
    body = load("create_quirks.json")
    del body["alert"]["alias"]
    assert og.stream_key(body) == "opsgenie:918273645546372819283746556473829101"


def test_long_or_odd_aliases_are_bounded(og: OpsgenieSource) -> None:
    body = load("create.json")
    body["alert"]["alias"] = "a" * 512  # Opsgenie allows 512 characters
    key = og.stream_key(body)
    assert key.startswith("opsgenie:h:")
    assert len(key) <= MAX_STREAM_KEY
    body["alert"]["alias"] = "alias with spaces"
    assert og.stream_key(body).startswith("opsgenie:h:")
    body["alert"]["alias"] = "bad\ud800alias"  # JSON "\ud800": a lone surrogate
    assert og.stream_key(body).startswith("opsgenie:")


# --- normalize ----------------------------------------------------------------------------------


def test_normalize_create_field_by_field(og: OpsgenieSource) -> None:
    alert = og.normalize(load("create.json"))
    assert alert.source == "opsgenie"
    assert alert.title == "Checkout p99 latency above 2s"
    assert alert.description == "p99 latency of POST /api/v1/checkout is 2.7s (threshold 2s) for 10 minutes."
    assert alert.severity is Severity.critical
    assert alert.lifecycle is Lifecycle.firing
    assert alert.service == "checkout"  # the service:checkout tag
    assert alert.namespace == "payments"  # kube_namespace:payments
    assert alert.pod == "checkout-7d9f8b6c5-x2k4p"  # details
    assert alert.deployment == "checkout"
    assert alert.labels == {
        "service": "checkout",
        "env": "prod",
        "kube_namespace": "payments",
        "OverwriteQuietHours": "",
        "pod": "checkout-7d9f8b6c5-x2k4p",
        "deployment": "checkout",
        "runbook_url": "https://runbooks.acme-corp.net/checkout/latency",
        "dashboard": "https://grafana.acme-corp.net/d/checkout-overview",
        "region": "eu-west-1",
        "priority": "P1",
        "entity": "checkout-7d9f8b6c5-x2k4p",
    }
    assert alert.annotations == {
        "action": "Create",
        "alert_id": "3c6e5d1a-8f2b-4a7c-b9e0-1d4f6a8c2e5b-1686910612345",
        "alias": ALIAS,
        "tiny_id": "1791",
        "username": "System",
        "alert_source": "alertmanager.prod.acme-corp.net",
        "integration": "AI-SRE Webhook",
        "integration_type": "Webhook",
        "action_source": "Prometheus",
        "teams": "8a2c7e1d-5b4f-4c3a-9e6d-2f1b0a9c8d7e",
        "responders": "payments_escalation",
    }
    assert alert.links == {
        "runbook": "https://runbooks.acme-corp.net/checkout/latency",
        "dashboard": "https://grafana.acme-corp.net/d/checkout-overview",
    }
    assert alert.fingerprint == ALIAS
    assert alert.started_at == datetime(2023, 6, 16, 10, 16, 52, 345000, tzinfo=UTC)  # createdAt, ms
    assert alert.ended_at is None


def test_normalize_close_ends_at_updated_at_in_nanoseconds(og: OpsgenieSource) -> None:
    alert = og.normalize(load("close.json"))
    assert alert.lifecycle is Lifecycle.resolved
    assert alert.ended_at == datetime(2023, 6, 16, 10, 47, 11, 998001, tzinfo=UTC)  # 1686912431998001207 ns
    assert alert.description == ""  # Opsgenie sends the description only with Create and custom actions
    assert alert.service == "checkout"  # still found in the tags
    deleted = og.normalize(load("delete.json"))
    assert deleted.lifecycle is Lifecycle.resolved
    assert deleted.annotations["username"] == "maeve.okafor@acme-corp.net"


def test_normalize_note_and_escalation(og: OpsgenieSource) -> None:
    note = og.normalize(load("add_note.json"))
    assert note.lifecycle is Lifecycle.updated
    assert note.annotations["note"] == "Rolled back checkout to v2023.06.15-3; latency recovering."
    assert note.annotations["action_source"] == "iPhone"
    assert note.ended_at is None
    escalated = og.normalize(load("escalate.json"))
    assert escalated.annotations["escalation"] == "Payments_escalation"


def test_minimal_create_without_alias_details_or_priority(og: OpsgenieSource) -> None:
    alert = og.normalize(load("create_minimal.json"))
    assert alert.title == "Nightly billing export job failed"
    assert alert.severity is Severity.medium  # no priority: Opsgenie's default P3
    assert alert.service is None
    assert alert.labels == {}
    assert alert.links == {}
    assert alert.fingerprint == "b7e2f4a9-1c3d-4e5f-8a6b-9c0d1e2f3a4b-1686920000999"
    assert alert.annotations["tiny_id"] == "1802"  # sent as a number
    assert "alias" not in alert.annotations
    assert alert.started_at == datetime(2023, 6, 16, 12, 53, 20, 999000, tzinfo=UTC)  # ms as a string


def test_quirks_big_ints_comma_tags_object_teams_scalar_details(og: OpsgenieSource) -> None:
    alert = og.normalize(load("create_quirks.json"))
    assert alert.annotations["alert_id"] == "918273645546372819283746556473829101"  # never float-converted
    assert alert.annotations["tiny_id"] == "98765432109876543210"
    assert alert.service == "orders-api-v2"  # details win over the service: tag
    assert alert.namespace == "orders"  # from the comma-separated tag string
    assert alert.labels["team"] == "fulfilment"
    assert alert.labels["replicas"] == "3"
    assert alert.labels["error_ratio"] == "0.042"
    assert alert.labels["canary"].lower() == "true"
    assert alert.labels["monitor_id"] == "81234567"
    assert "nested" not in alert.labels
    assert "owner" not in alert.labels
    assert alert.severity is Severity.high  # "p2", lower case
    assert alert.annotations["teams"] == "Fulfilment"
    assert alert.annotations["responders"] == "Fulfilment,maeve.okafor@acme-corp.net"
    assert alert.started_at == datetime(2023, 6, 16, 15, 40, 0, 123000, tzinfo=UTC)


def test_title_falls_back_to_the_tiny_id_or_alias(og: OpsgenieSource) -> None:
    body = load("acknowledge.json")
    del body["alert"]["message"]
    assert og.normalize(body).title == "Opsgenie alert #1791"
    del body["alert"]["tinyId"]
    assert og.normalize(body).title == f"Opsgenie alert {ALIAS}"


def test_liberal_about_types(og: OpsgenieSource) -> None:
    body = load("create.json")
    alert = body["alert"]
    alert["tags"] = [None, 5, {"k": "v"}, "app:storefront", "Service=billing"]
    alert["details"] = "not an object"
    alert["teams"] = None
    alert["responders"] = "ops-team"
    alert["priority"] = 4
    alert["entity"] = {"host": "x"}
    alert["createdAt"] = 1686910612.345  # seconds, as a float
    result = og.normalize(body)
    assert result.labels == {"5": "", "app": "storefront", "Service": "billing", "priority": "4"}
    assert result.service == "billing"  # "service" (matched case-insensitively) comes before "app"
    assert result.severity is Severity.low  # 4 means P4
    assert "teams" not in result.annotations
    assert result.annotations["responders"] == "ops-team"
    assert result.started_at == datetime(2023, 6, 16, 10, 16, 52, 345000, tzinfo=UTC)


def test_lone_surrogates_are_escaped_so_the_alert_serializes(og: OpsgenieSource) -> None:
    body = load("create.json")
    body["alert"]["message"] = "bad \ud800 message"
    body["alert"]["details"] = {"k\udfff": "v\ud800"}
    alert = og.normalize(body)
    assert alert.title == "bad \\ud800 message"
    assert alert.labels["k\\udfff"] == "v\\ud800"
    json.loads(alert.model_dump_json())  # would raise UnicodeEncodeError on a lone surrogate


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"action": "Create", "alert": {"alertId": None, "message": ""}}, "no title"),
        ({"action": "Create", "alert": {}}, "no title"),
        ({"action": "Create"}, "not an Opsgenie webhook"),
        ({"title": "x"}, "not an Opsgenie webhook"),
        ("text", "not an Opsgenie webhook"),
        (None, "not an Opsgenie webhook"),
    ],
)
def test_normalization_errors_say_what_is_wrong(og: OpsgenieSource, item: Any, reason: str) -> None:
    with pytest.raises(NormalizationError, match=reason):
        og.normalize(item)


# --- severity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        ("P1", Severity.critical),
        ("P2", Severity.high),
        ("P3", Severity.medium),
        ("P4", Severity.low),
        ("P5", Severity.info),
        ("p5", Severity.info),
        (" P4 ", Severity.low),
        (1, Severity.critical),
        ("5", Severity.info),
        ("critical", Severity.critical),
        ("P9", Severity.medium),
        (None, Severity.medium),
        ({"level": 1}, Severity.medium),
    ],
)
def test_severity_table(og: OpsgenieSource, priority: Any, expected: Severity) -> None:
    body = load("create.json")
    body["alert"]["priority"] = priority
    assert og.normalize(body).severity is expected


# --- property: any JSON value ------------------------------------------------------------------

_json = json_values(max_leaves=20)
_ACTIONS = ["Create", "Acknowledge", "UnAcknowledge", "Close", "Delete", "AddNote", "Escalate", "CustomAction"]
_edgy = _json | st.sampled_from(
    [
        *_ACTIONS,
        "P1",
        "P5",
        "p3",
        "service:checkout",
        "kube_namespace:prod",
        "https://runbooks.example.net/x",
        "",
        " ",
        "\ud800",
        "x\udfffy",
        "a" * 512,
        10**30,
        2**64,
        1686910612345,
        1686910612345000000,
        "1686910612345000000",
        "2023-06-16T10:16:52Z",
        "9999-12-31T23:59:59-05:00",
    ]
)
_keys = st.sampled_from(["service", "app", "namespace", "pod", "deployment", "runbook_url", "dashboard", "url"])
_alert = st.fixed_dictionaries(
    {},
    optional={
        "alertId": _edgy,
        "alias": _edgy,
        "tinyId": _edgy,
        "message": _edgy,
        "description": _edgy,
        "priority": st.sampled_from(["P1", "P2", "P3", "P4", "P5"]) | _edgy,
        "tags": st.lists(_edgy, max_size=4) | _edgy,
        "details": st.dictionaries(_keys | st.text(), _edgy, max_size=4) | _edgy,
        "teams": st.lists(_edgy | st.fixed_dictionaries({}, optional={"name": _edgy, "id": _edgy}), max_size=3) | _edgy,
        "responders": st.lists(st.fixed_dictionaries({}, optional={"name": _edgy, "id": _edgy}), max_size=3) | _edgy,
        "createdAt": _edgy,
        "updatedAt": _edgy,
        "entity": _edgy,
        "source": _edgy,
        "username": _edgy,
        "note": _edgy,
        "owner": _edgy,
    },
)
_body = st.fixed_dictionaries(
    {"action": st.sampled_from(_ACTIONS) | _edgy, "alert": _alert | _edgy},
    optional={
        "source": st.fixed_dictionaries({}, optional={"name": _edgy, "type": _edgy}) | _edgy,
        "integrationName": _edgy,
        "integrationId": _edgy,
        "integrationType": _edgy,
        "escalationNotify": st.fixed_dictionaries({}, optional={"name": _edgy}) | _edgy,
    },
)


_FIXTURE_BODIES = [load(name) for name in OG_FIXTURES]
payloads = st.one_of(_json, _body, mutated_fixtures(_FIXTURE_BODIES, _edgy))
_SOURCE = OpsgenieSource()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads)
def test_never_raises_unexpected_errors(payload: Any) -> None:
    assert _SOURCE.split(payload) == [payload]
    for alert in check_never_raises(_SOURCE, payload):
        if alert.ended_at is not None:
            assert alert.lifecycle is Lifecycle.resolved
