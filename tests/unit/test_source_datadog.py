"""The Datadog Webhooks source: detection, lifecycle, stream keys and normalization of monitor notifications.

Fixtures follow the documented variables of the Webhooks integration: the default payload template
(default_*.json), a snake_case custom template (triggered/recovered.json), a camelCase template nesting the
alert variables (nested_camel_case.json), an upper-case "metadata" block (metadata_no_data.json) and a
template whose variables Datadog could not fill (missing_fields.json).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.alert_sources.base import MAX_STREAM_KEY
from adapters.alert_sources.datadog import ALERT_TYPE_SEVERITY, PRIORITY_SEVERITY, DatadogSource
from domain.models import Lifecycle, NormalizationError, Severity
from tests.unit.source_checks import check_never_raises, claimed_fixtures, fixture_names, json_values, load_fixture

AGGREG_KEY = "b3f8c1d2e4a5968778695a4b3c2d1e0f"


def load(name: str) -> dict[str, Any]:
    return load_fixture("datadog", name)


@pytest.fixture
def dd() -> DatadogSource:
    return DatadogSource()


@pytest.fixture
def triggered() -> dict[str, Any]:
    return load("triggered.json")


@pytest.fixture
def recovered() -> dict[str, Any]:
    return load("recovered.json")


# --- detection ----------------------------------------------------------------------------------

OWN_FIXTURES = fixture_names("datadog")


@pytest.mark.parametrize("name", OWN_FIXTURES)
@pytest.mark.parametrize("headers", [{}, {"user-agent": "python-requests/2.32.3"}])
def test_own_fixtures_are_detected_by_shape(dd: DatadogSource, name: str, headers: dict[str, str]) -> None:
    assert dd.detect(load(name), headers) is True


def test_other_vendors_fixtures_are_not_detected(dd: DatadogSource) -> None:
    assert claimed_fixtures(dd) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "x", "severity": "high"},
        {"title": "[Triggered] disk full", "id": 3, "date": "1773526377000"},  # no Datadog variable
        {"title": "t", "body": "b", "event_type": "deploy", "org": {"id": 1}},  # default keys but no date
        {"title": "t", "body": "b", "event_type": "deploy", "date": "1773526377000", "id": 4},  # ... no org
        {"alert_id": "123", "alert_type": "error"},  # only generic-looking variables
        # Opsgenie: its alert object's alertId/priority must not read as $ALERT_ID/$ALERT_PRIORITY.
        {"action": "Create", "alert": {"alertId": "a1", "priority": "P1", "message": "m", "tags": ["x"]}},
        {"event": {"event_type": "incident.triggered", "data": {"id": "Q1", "title": "t"}}},  # PagerDuty V3
        {"version": "1", "orgId": 1, "alerts": [], "title": "[FIRING:1] x", "state": "alerting"},  # Grafana
        [{"aggreg_key": "a", "alert_transition": "Triggered"}],  # a list is not a Datadog body
        "text",
        None,
        42,
    ],
)
def test_other_bodies_are_not_detected(dd: DatadogSource, payload: Any) -> None:
    assert dd.detect(payload, {"user-agent": "curl/8.0"}) is False


def test_two_datadog_variables_identify_a_custom_template(dd: DatadogSource) -> None:
    assert dd.detect({"aggreg_key": "k", "alert_transition": "Triggered"}, {}) is True
    assert dd.detect({"ALERT_CYCLE_KEY": "c", "ALERT_ID": "1"}, {}) is True
    assert dd.detect({"meta": {"alertCycleKey": "c"}, "alertId": "1"}, {}) is True
    assert dd.detect({"aggreg_key": "k"}, {}) is False  # one variable alone is too little


def test_a_datadog_webhook_user_agent_is_accepted_for_any_object(dd: DatadogSource) -> None:
    assert dd.detect({"text": "custom"}, {"user-agent": "Datadog Webhooks/1.0"}) is True
    assert dd.detect("text", {"user-agent": "Datadog Webhooks/1.0"}) is False
    assert dd.detect({"text": "custom"}, {"user-agent": "Datadog Agent/7.50"}) is False


# --- split --------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [{"title": "t"}, [{"title": "a"}, {"title": "b"}], [], "text", None])
def test_split_is_one_item_per_request(dd: DatadogSource, payload: Any) -> None:
    assert dd.split(payload) == [payload]


# --- lifecycle ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transition", "expected"),
    [
        ("Triggered", Lifecycle.firing),
        ("Re-Triggered", Lifecycle.firing),
        ("Warn", Lifecycle.firing),
        ("Re-Warn", Lifecycle.firing),
        ("No Data", Lifecycle.firing),
        ("Re-No Data", Lifecycle.firing),
        ("Renotify", Lifecycle.firing),
        ("Recovered", Lifecycle.resolved),
    ],
)
def test_lifecycle_of_every_transition(dd: DatadogSource, transition: str, expected: Lifecycle) -> None:
    # From the $ALERT_TRANSITION field, from a nested camelCase template, and from the title alone.
    assert dd.lifecycle({"alert_transition": transition, "alert_type": "error"}) is expected
    assert dd.lifecycle({"alert": {"transition": transition}}) is expected
    assert dd.lifecycle({"title": f"[P2] [{transition} on {{host:web-1}}] CPU high"}) is expected
    assert dd.lifecycle({"title": f"[{transition}] CPU high"}) is expected


def test_lifecycle_of_the_fixtures(dd: DatadogSource) -> None:
    expected = {
        "triggered.json": Lifecycle.firing,
        "recovered.json": Lifecycle.resolved,
        "default_triggered.json": Lifecycle.firing,
        "default_recovered.json": Lifecycle.resolved,
        "nested_camel_case.json": Lifecycle.firing,
        "metadata_no_data.json": Lifecycle.firing,
        "missing_fields.json": Lifecycle.firing,
    }
    assert {name: dd.lifecycle(load(name)) for name in OWN_FIXTURES} == expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        # An unexpanded variable is missing: the title decides.
        ({"alert_transition": "$ALERT_TRANSITION", "title": "[Recovered] X"}, Lifecycle.resolved),
        ({"alert_transition": "Recovered", "title": "[Triggered] X"}, Lifecycle.resolved),  # the field wins
        ({"alert_status": "Recovered"}, Lifecycle.resolved),  # $ALERT_TRANSITION stored under "alert_status"
        ({"alert_status": "cpu over host:a was > 90 during the last 5m"}, Lifecycle.firing),
        ({"alert_type": "success"}, Lifecycle.resolved),
        ({"alert_type": "error"}, Lifecycle.firing),
        ({"alert_transition": "Null", "title": "no prefix"}, Lifecycle.firing),  # old docs' "Null"
        ({"title": "[prod] [Recovered] X"}, Lifecycle.firing),  # a name bracket ends the prefix
        ({}, Lifecycle.firing),
        (None, Lifecycle.firing),
        (["Recovered"], Lifecycle.firing),
    ],
)
def test_lifecycle_sources_and_precedence(dd: DatadogSource, item: Any, expected: Lifecycle) -> None:
    assert dd.lifecycle(item) is expected


def test_datadog_never_acknowledges_or_updates(dd: DatadogSource) -> None:
    words = ["Acknowledged", "ack", "Renotify", "Muted", "updated"]
    assert {dd.lifecycle({"alert_transition": w}) for w in words} == {Lifecycle.firing}


# --- stream keys --------------------------------------------------------------------------------


def test_trigger_and_recovery_share_the_aggregation_key(
    dd: DatadogSource, triggered: dict[str, Any], recovered: dict[str, Any]
) -> None:
    assert triggered["id"] != recovered["id"]  # the event id changes; it must not be the key
    assert dd.stream_key(triggered) == dd.stream_key(recovered) == f"datadog:{AGGREG_KEY}"


def test_default_template_keys_on_the_monitor_link_and_group(dd: DatadogSource) -> None:
    fire, res = load("default_triggered.json"), load("default_recovered.json")
    assert dd.stream_key(fire) == dd.stream_key(res) == "datadog:monitor-90817263/host:ip-10-0-3-17"
    other_host = copy.deepcopy(fire)
    other_host["title"] = other_host["title"].replace("ip-10-0-3-17", "ip-10-0-3-18")
    assert dd.stream_key(other_host) == "datadog:monitor-90817263/host:ip-10-0-3-18"


def test_key_precedence(dd: DatadogSource, triggered: dict[str, Any]) -> None:
    body = copy.deepcopy(triggered)
    assert dd.stream_key(body) == f"datadog:{AGGREG_KEY}"
    body["aggreg_key"] = "$AGGREG_KEY"  # unexpanded: next identity
    assert dd.stream_key(body) == "datadog:monitor-148275309/kube_namespace:shop,service:checkout"
    body["alert_id"] = ""
    assert dd.stream_key(body) == "datadog:cycle-7716548234011200000"
    del body["alert_cycle_key"]
    assert dd.stream_key(body) == "datadog:monitor-148275309/kube_namespace:shop,service:checkout"  # body link
    body["body"] = "no link here"
    key = dd.stream_key(body)
    assert key.startswith("datadog:")
    assert "monitor" not in key
    assert "cycle" not in key


def test_groups_of_a_multi_alert_monitor_are_separate_streams(dd: DatadogSource) -> None:
    one = {"alert_id": "148275309", "alert_scope": "host:web-1", "alert_transition": "Triggered"}
    same = {"alert_id": "148275309", "alert_scope": "host:web-1", "alert_transition": "Recovered"}
    other = {"alert_id": "148275309", "alert_scope": "host:web-2", "alert_transition": "Triggered"}
    assert dd.stream_key(one) == dd.stream_key(same) == "datadog:monitor-148275309/host:web-1"
    assert dd.stream_key(other) != dd.stream_key(one)
    # The same group written in another order is the same group.
    assert dd.stream_key({"alert_id": 5, "alert_scope": "b:2, a:1"}) == dd.stream_key(
        {"alertId": "5", "scope": "a:1,b:2"}
    )


def test_without_identity_the_key_is_the_title_without_its_prefix(dd: DatadogSource) -> None:
    fire = dd.stream_key({"title": "[P1] [Triggered on {host:a}] CPU high", "tags": "service:web"})
    renotify = dd.stream_key({"title": "[P2] [Renotify on {host:a}] CPU high", "tags": "service:web"})
    res = dd.stream_key({"title": "[Recovered on {host:a}] CPU high", "tags": "service:web"})
    assert fire == renotify == res
    assert fire != dd.stream_key({"title": "[Triggered on {host:b}] CPU high", "tags": "service:web"})
    assert fire != dd.stream_key({"title": "[Triggered on {host:a}] CPU high", "tags": "service:api"})
    assert fire != dd.stream_key({"title": "[Triggered on {host:a}] Memory high", "tags": "service:web"})


def test_different_alerts_get_different_keys(dd: DatadogSource) -> None:
    keys = {dd.stream_key(load(name)) for name in OWN_FIXTURES}
    # triggered/recovered and the two default ones pair up; the three others are alerts of their own.
    assert len(keys) == 5
    assert all(k.startswith("datadog:") and len(k) <= MAX_STREAM_KEY for k in keys)


def test_an_absurd_identity_is_hashed_into_a_short_printable_key(dd: DatadogSource) -> None:
    key = dd.stream_key({"aggreg_key": "x y\n" * 200})
    assert len(key) <= MAX_STREAM_KEY
    assert all(ch.isprintable() and not ch.isspace() for ch in key)
    assert key == dd.stream_key({"aggreg_key": "x y\n" * 200})


# --- normalize ----------------------------------------------------------------------------------


def test_normalize_custom_template_field_by_field(dd: DatadogSource, triggered: dict[str, Any]) -> None:
    alert = dd.normalize(triggered)
    assert alert.source == "datadog"
    assert alert.title == "Checkout 5xx rate above 5% (kube_namespace:shop,service:checkout)"
    assert alert.description.startswith("@webhook-ai-sre Checkout is returning 5xx to customers.")
    assert "%%%" not in alert.description
    assert alert.severity is Severity.critical  # P1
    assert alert.lifecycle is Lifecycle.firing
    assert alert.service == "checkout"
    assert alert.namespace == "shop"
    assert alert.pod == "checkout-7d9f8b6c5-x2x9q"
    assert alert.deployment == "checkout"
    assert alert.labels == {
        "env": "prod",
        "kube_deployment": "checkout",
        "kube_namespace": "shop",
        "monitor": "",
        "pod_name": "checkout-7d9f8b6c5-x2x9q",
        "service": "checkout",
        "team": "payments",
    }
    assert alert.fingerprint == AGGREG_KEY
    assert alert.started_at == datetime(2026, 3, 14, 22, 12, 57, tzinfo=UTC)
    assert alert.ended_at is None
    assert alert.links == {
        "datadog": "https://app.datadoghq.com/event/event?id=7716548234011234567",
        "image": "https://p.datadoghq.com/snapshot/view/dd-snapshots-prod/org_1300568/2026-03-14/9f1c2a7be5d04c18a3b6e0d2f4a81c97.png",
        "monitor": (
            "https://app.datadoghq.com/monitors/148275309?group=kube_namespace%3Ashop%2Cservice%3Acheckout"
            "&from_ts=1773525477000&to_ts=1773526677000&event_id=7716548234011234567&link_source=monitor_notif"
        ),
    }
    assert alert.annotations["transition"] == "Triggered"
    assert alert.annotations["priority"] == "P1"
    assert alert.annotations["monitor_id"] == "148275309"
    assert alert.annotations["event_id"] == "7716548234011234567"
    assert alert.annotations["scope"] == "kube_namespace:shop,service:checkout"
    assert alert.annotations["query"].startswith("avg(last_5m):sum:trace.http.request.errors")
    assert alert.annotations["org"] == "Acme Shop"


def test_normalize_recovery(dd: DatadogSource, recovered: dict[str, Any]) -> None:
    alert = dd.normalize(recovered)
    assert alert.lifecycle is Lifecycle.resolved
    assert alert.ended_at == datetime(2026, 3, 14, 22, 32, 57, tzinfo=UTC)
    assert alert.started_at is None
    assert "image" not in alert.links  # "$SNAPSHOT" was empty
    assert alert.title == dd.normalize(load("triggered.json")).title


def test_normalize_default_template(dd: DatadogSource) -> None:
    alert = dd.normalize(load("default_triggered.json"))
    assert alert.title == "Disk usage above 90% on the Docker volume (host:ip-10-0-3-17)"
    assert alert.severity is Severity.medium  # [P3] in the title
    assert alert.lifecycle is Lifecycle.firing
    assert alert.labels == {"host": "ip-10-0-3-17"}  # the title's group
    assert alert.service is None
    assert alert.fingerprint == "monitor-90817263/host:ip-10-0-3-17"
    assert alert.annotations["event_type"] == "metric_alert_monitor"
    assert alert.annotations["org_id"] == "1300568"
    assert alert.links["monitor"].startswith("https://app.datadoghq.com/monitors/90817263?group=host%3Aip-10-0-3-17")
    assert alert.started_at == datetime(2026, 3, 14, 22, 47, 57, tzinfo=UTC)


def test_normalize_nested_camel_case_with_numbers_and_a_json_tag_list(dd: DatadogSource) -> None:
    alert = dd.normalize(load("nested_camel_case.json"))
    assert alert.title == "[Synthetics] Checkout API - place order"  # "[Synthetics]" is part of the name
    assert alert.severity is Severity.high  # priority unexpanded: alert type "error"
    assert alert.service == "checkout-api"
    assert alert.labels == {"env": "staging", "service": "checkout-api", "team": "web", "synthetics": ""}
    assert alert.fingerprint == "monitor-166187407"  # a JSON number, read as text
    # An event id past 2**53 keeps every digit (never converted to float).
    assert alert.annotations["event_id"] == "8169025783718885557"
    assert alert.started_at == datetime(2026, 3, 14, 22, 47, 57, tzinfo=UTC)


def test_normalize_upper_case_metadata_block(dd: DatadogSource) -> None:
    alert = dd.normalize(load("metadata_no_data.json"))
    assert alert.lifecycle is Lifecycle.firing
    assert alert.severity is Severity.high  # [P2]
    assert alert.service == "payments-reconciler"
    assert alert.namespace == "payments"
    assert alert.labels["kube_cluster_name"] == "prod-eu-1"
    assert alert.fingerprint == "cycle-7716548234100000000"  # $AGGREG_KEY and $ALERT_ID were not filled
    assert alert.annotations["transition"] == "No Data"
    assert "aggreg_key" not in alert.annotations
    assert "monitor_id" not in alert.annotations


def test_normalize_with_unfilled_variables(dd: DatadogSource) -> None:
    alert = dd.normalize(load("missing_fields.json"))
    assert alert.title == "Order queue depth rising"
    assert alert.severity is Severity.medium  # alert type "warning"
    assert alert.labels == {}  # "$TAGS" is not a tag
    assert alert.links == {}
    assert alert.fingerprint is None
    assert alert.started_at is None  # "$DATE"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ("service:web, env:prod ,team:sre", {"service": "web", "env": "prod", "team": "sre"}),
        (["service:web", "env:prod"], {"service": "web", "env": "prod"}),
        ({"service": "web", "replicas": 3}, {"service": "web", "replicas": "3"}),
        ("url:https://x.example/a", {"url": "https://x.example/a"}),
        ("", {}),
        (None, {}),
        (7, {}),
    ],
)
def test_tags_in_every_form(dd: DatadogSource, tags: Any, expected: dict[str, str]) -> None:
    alert = dd.normalize({"title": "[Triggered] t", "tags": tags})
    assert alert.labels == expected
    assert alert.service == expected.get("service")


def test_scope_tags_win_and_explicit_fields_beat_tags(dd: DatadogSource) -> None:
    alert = dd.normalize(
        {
            "title": "t",
            "tags": "service:monitor-wide,kube_namespace:default",
            "alert_scope": "service:checkout, kube_namespace:shop",
            "pod": "checkout-0",
        }
    )
    assert alert.service == "checkout"
    assert alert.namespace == "shop"
    assert alert.pod == "checkout-0"
    assert dd.normalize({"title": "t", "service": "svc", "tags": "service:other"}).service == "svc"


def test_null_strings_and_nulls_are_missing(dd: DatadogSource) -> None:
    alert = dd.normalize({"title": "t", "link": "null", "snapshot": None, "incident": {"incident_url": "null"}})
    assert alert.links == {}


@pytest.mark.parametrize("item", ["text", 42, None, [{"title": "t"}], True])
def test_non_objects_are_refused(dd: DatadogSource, item: Any) -> None:
    with pytest.raises(NormalizationError, match="not a Datadog webhook body"):
        dd.normalize(item)


@pytest.mark.parametrize(
    "item", [{}, {"body": "text only"}, {"title": ""}, {"title": "$EVENT_TITLE"}, {"title": {"x": 1}}]
)
def test_bodies_without_a_title_are_refused(dd: DatadogSource, item: dict[str, Any]) -> None:
    with pytest.raises(NormalizationError, match="no title"):
        dd.normalize(item)


def test_a_title_that_is_only_a_prefix_is_kept_whole(dd: DatadogSource) -> None:
    assert dd.normalize({"title": "[Triggered]"}).title == "[Triggered]"


# --- severity -----------------------------------------------------------------------------------


def test_severity_tables() -> None:
    assert {
        "p1": Severity.critical,
        "p2": Severity.high,
        "p3": Severity.medium,
        "p4": Severity.low,
        "p5": Severity.info,
    } == PRIORITY_SEVERITY
    assert {
        "error": Severity.high,
        "warning": Severity.medium,
        "info": Severity.info,
        "success": Severity.info,
    } == ALERT_TYPE_SEVERITY


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"alert_priority": "P1"}, Severity.critical),
        ({"alert_priority": "p2"}, Severity.high),
        ({"priority": "P3"}, Severity.medium),
        ({"alertPriority": 4}, Severity.low),
        ({"severity": "P5"}, Severity.info),  # some templates name $ALERT_PRIORITY "severity"
        ({"alert": {"priority": "P2"}, "alert_type": "warning"}, Severity.high),  # priority beats the type
        ({"title": "[P4] [Triggered] x", "alert_type": "error"}, Severity.low),  # so does [P4] in the title
        ({"alert_priority": "$ALERT_PRIORITY", "alert_type": "error"}, Severity.high),
        ({"priority": "normal", "alert_type": "warning"}, Severity.medium),  # $PRIORITY is not a severity
        ({"priority": "low"}, Severity.medium),
        ({"alert_type": "info"}, Severity.info),
        ({"alert_type": "success"}, Severity.info),
        ({"title": "[Triggered] x"}, Severity.high),
        ({"title": "[Warn] x"}, Severity.medium),
        ({"alert_transition": "No Data"}, Severity.medium),
        ({"alert_transition": "Recovered"}, Severity.info),
        ({"severity": "critical"}, Severity.critical),  # free text
        ({}, Severity.medium),
    ],
)
def test_severity_sources(dd: DatadogSource, fields: dict[str, Any], expected: Severity) -> None:
    assert dd.normalize({"title": "t", **fields}).severity is expected


# --- properties ---------------------------------------------------------------------------------

_json = json_values(max_leaves=25)
_titles = st.builds(
    lambda prio, word, scope, name: f"{prio}[{word}{scope}] {name}",
    st.sampled_from(["", "[P1] ", "[p9] ", "[] "]),
    st.sampled_from(["Triggered", "Recovered", "Re-No Data", "Warn", "Null", "", "{x"]),
    st.sampled_from(["", " on {host:a}", " on {host:a,service:b}", " on {", " on {}"]),
    st.text(max_size=20),
)
_edgy = (
    _json
    | _titles
    | st.integers(min_value=2**53, max_value=2**80)
    | st.sampled_from(
        ["$ALERT_ID", "$TAGS[service]", "null", "P1", "3", "Recovered", "success", "", " ", "a:b, c:d", "{x:y}"]
    )
    | st.sampled_from(["https://app.datadoghq.com/monitors/12?group=host%3Aa", "%%%\n/monitors/9\n%%%"])
)
_NAMES = [
    "id",
    "title",
    "body",
    "date",
    "last_updated",
    "event_type",
    "aggreg_key",
    "alert_id",
    "alert_cycle_key",
    "alert_transition",
    "alert_type",
    "alert_priority",
    "priority",
    "severity",
    "alert_scope",
    "alert_status",
    "tags",
    "link",
    "snapshot",
    "hostname",
    "service",
    "pod",
]
_flat = st.fixed_dictionaries({}, optional=dict.fromkeys(_NAMES, _edgy))
_nested = st.fixed_dictionaries(
    {},
    optional={
        "alert": st.fixed_dictionaries({}, optional=dict.fromkeys(["id", "transition", "scope", "cycle_key"], _edgy)),
        "metadata": st.dictionaries(st.sampled_from(["AGGREG_KEY", "ALERT_ID", "TAGS", "EVENT_TITLE"]), _edgy),
        "org": _edgy,
        "eventTitle": _edgy,
        "alertCycleKey": _edgy,
    },
)
payloads = _json | _flat | _nested | st.lists(_flat, max_size=2)
_headers = st.dictionaries(st.sampled_from(["user-agent", "content-type"]) | st.text(max_size=5), st.text(max_size=30))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, headers=_headers)
def test_any_json_gives_an_alert_or_a_normalization_error(payload: Any, headers: dict[str, str]) -> None:
    source = DatadogSource()
    assert source.split(payload) == [payload]
    check_never_raises(source, payload, headers)


@settings(max_examples=300, deadline=None)
@given(
    identity=st.sampled_from(["aggreg", "monitor", "cycle", "link", "none"]),
    ident=st.from_regex(r"[0-9a-f]{6,32}", fullmatch=True),
    priority=st.sampled_from(["", "[P1] ", "[P3] "]),
    scope=st.sampled_from(["", "host:web-1", "kube_namespace:shop,service:checkout"]),
    name=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and not s.lstrip().startswith("[")),
    event_ids=st.tuples(st.integers(min_value=0, max_value=2**64), st.integers(min_value=0, max_value=2**64)),
)
def test_trigger_renotify_and_recovery_of_one_alert_share_a_key(
    identity: str, ident: str, priority: str, scope: str, name: str, event_ids: tuple[int, int]
) -> None:
    source = DatadogSource()

    def body(transition: str, event_id: int) -> dict[str, Any]:
        on = f" on {{{scope}}}" if scope else ""
        item: dict[str, Any] = {"id": str(event_id), "title": f"{priority}[{transition}{on}] {name}"}
        item["alert_transition"] = transition
        if identity == "aggreg":
            item["aggreg_key"] = ident
        elif identity == "monitor":
            item["alert_id"] = ident
        elif identity == "cycle":
            item["alert_cycle_key"] = ident
        elif identity == "link":
            item["body"] = (
                f"[[Monitor Status](https://app.datadoghq.com/monitors/{int(ident, 16)}?event_id={event_id})]"
            )
        return item

    fire, again, done = body("Triggered", event_ids[0]), body("Renotify", event_ids[1]), body("Recovered", 7)
    assert source.lifecycle(fire) is source.lifecycle(again) is Lifecycle.firing
    assert source.lifecycle(done) is Lifecycle.resolved
    assert source.stream_key(fire) == source.stream_key(again) == source.stream_key(done)
