"""Grafana source: unified alerting webhooks (Grafana 8.x to 12) and legacy dashboard alerting webhooks.

Fixtures in tests/fixtures/grafana are written from Grafana's documented webhook payload and the
notifier code in grafana/alerting (templates.ExtendedAlert, receivers/webhook): one per major version
(9: `valueString` only; 10: `values` + `imageURL`; 11: firing/resolved pair; 12: per-alert `orgId`,
`ruleUID`, `values: null`, `grafana_state_reason`), test notifications (default, custom, Grafana 8),
the legacy format and an edge case body.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.alert_sources.alertmanager import AlertmanagerSource
from adapters.alert_sources.base import MAX_STREAM_KEY
from adapters.alert_sources.grafana import SEVERITY_WORDS, GrafanaSource
from domain.models import Lifecycle, NormalizationError, Severity
from tests.unit.source_checks import check_never_raises, claimed_fixtures, fixture_names, json_values, load_fixture

LEGACY = fixture_names("grafana", "legacy_*.json")
UNIFIED = [name for name in fixture_names("grafana") if name not in LEGACY]


def load(name: str) -> Any:
    return load_fixture("grafana", name)


@pytest.fixture
def src() -> GrafanaSource:
    return GrafanaSource()


def one(src: GrafanaSource, name: str) -> Any:
    (item,) = src.split(load(name))
    return item


# --- detection ----------------------------------------------------------------------------------


def test_fixture_sets_are_not_empty() -> None:
    assert len(UNIFIED) >= 8
    assert len(LEGACY) >= 4


@pytest.mark.parametrize("name", UNIFIED + LEGACY)
def test_every_fixture_is_detected_by_shape_alone(src: GrafanaSource, name: str) -> None:
    assert src.detect(load(name), {"user-agent": "curl/8.5.0"}) is True


@pytest.mark.parametrize("agent", ["Grafana", "Grafana/10.2.0", "Grafana/12.0.1+security-01"])
def test_grafana_user_agent_is_enough(src: GrafanaSource, agent: str) -> None:
    # A Grafana 12 custom payload template can send any JSON; the sender is still Grafana.
    assert src.detect({"text": "custom payload"}, {"user-agent": agent}) is True


@pytest.mark.parametrize("header", ["x-grafana-alert-signature", "x-grafana-alerting-signature"])
def test_grafana_hmac_signature_header_is_enough(src: GrafanaSource, header: str) -> None:
    assert src.detect({"text": "custom payload"}, {header: "9f86d081884c7d659a2feaa0c55ad015"}) is True


def test_alertmanager_fixture_is_not_grafana(src: GrafanaSource) -> None:
    body = load_fixture("alertmanager", "firing.json")
    assert src.detect(body, {"user-agent": "Alertmanager/0.27.0"}) is False
    assert src.detect(body, {}) is False
    # And Alertmanager does not claim Grafana's bodies: the API would otherwise answer 422.
    for name in UNIFIED:
        assert AlertmanagerSource().detect(load(name), {}) is False


def test_other_vendors_fixtures_are_not_detected(src: GrafanaSource) -> None:
    assert claimed_fixtures(src) == []
    assert claimed_fixtures(src, {"user-agent": "Alertmanager/0.27.0"}) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "disk full", "severity": "high"},
        {"alerts": [{"labels": {"alertname": "X"}}]},  # no version, no orgId
        {"alerts": [], "groupKey": "{}", "version": "4"},  # Alertmanager
        {"alerts": [], "orgId": 1, "version": "4"},  # orgId but Alertmanager's version
        {"alerts": "nope", "orgId": 1, "version": "1"},
        {"alerts": [], "version": "1"},  # neither orgId nor groupKey+state
        {"alerts": [], "version": "1", "groupKey": "{}", "state": "firing"},  # not Grafana's state words
        {"event": {"event_type": "incident.triggered", "data": {"id": "Q1"}}},  # PagerDuty V3
        {"action": "Create", "alert": {"alertId": "a-1", "message": "m"}},  # Opsgenie
        {"id": "9", "title": "x", "state": "alerting"},  # legacy state word but no rule keys
        {"ruleName": "x", "state": "firing"},  # a legacy key but not a legacy state
        {"ruleId": 3, "evalMatches": "nope"},
        [{"title": "a"}],
        "plain text",
        None,
        42,
    ],
)
def test_other_bodies_are_not_grafana(src: GrafanaSource, payload: Any) -> None:
    assert src.detect(payload, {"user-agent": "python-requests/2.32"}) is False


@pytest.mark.parametrize("agent", ["grafana-agent/0.40", "Grafana Alloy", "Mozilla/5.0 Grafana", ""])
def test_look_alike_user_agents_are_not_enough(src: GrafanaSource, agent: str) -> None:
    assert src.detect({"title": "x"}, {"user-agent": agent}) is False


# --- split --------------------------------------------------------------------------------------


def test_split_one_item_per_alert_with_group_context(src: GrafanaSource) -> None:
    body = load("grafana9_firing.json")
    items = src.split(body)
    assert [i["alert"]["fingerprint"] for i in items] == ["aaafafe0953f0962", "fb31814ac93dbe7d"]
    for item in items:
        group = item["group"]
        assert group["externalURL"] == "https://grafana.example.com/"
        assert group["receiver"] == "sre-webhook"
        assert group["orgId"] == 1
        assert group["groupKey"] == body["groupKey"]
        assert group["commonLabels"] == body["commonLabels"]
        assert "alerts" not in group
        assert "message" not in group  # the whole group's text: not repeated in every stored item


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_body_is_one_item_as_is(src: GrafanaSource, name: str) -> None:
    body = load(name)
    assert src.split(body) == [body]


@pytest.mark.parametrize("payload", [{"alerts": []}, {"alerts": None}, [1, 2], "text", None, 3, {"receiver": "x"}])
def test_split_unexpected_shapes_is_one_item(src: GrafanaSource, payload: Any) -> None:
    assert src.split(payload) == [payload]


# --- lifecycle ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("grafana9_firing.json", [Lifecycle.firing, Lifecycle.firing]),
        ("grafana10_firing.json", [Lifecycle.firing]),
        ("grafana11_firing.json", [Lifecycle.firing]),
        ("grafana11_resolved.json", [Lifecycle.resolved]),
        ("grafana12_mixed.json", [Lifecycle.firing, Lifecycle.resolved]),  # per alert, not per group
        ("grafana12_nodata_error.json", [Lifecycle.firing] * 3),
        ("test_notification.json", [Lifecycle.firing]),
        ("legacy_alerting.json", [Lifecycle.firing]),
        ("legacy_no_data.json", [Lifecycle.firing]),
        ("legacy_ok.json", [Lifecycle.resolved]),
        ("legacy_pending.json", [Lifecycle.updated]),
    ],
)
def test_lifecycle_of_each_vendor_event(src: GrafanaSource, name: str, expected: list[Lifecycle]) -> None:
    assert [src.lifecycle(i) for i in src.split(load(name))] == expected


def test_legacy_paused_rule_is_an_update_not_a_resolve(src: GrafanaSource) -> None:
    body = {**load("legacy_alerting.json"), "state": "paused", "title": "[Paused] Postgres disk almost full"}
    assert src.lifecycle(body) is Lifecycle.updated


def test_alert_without_status_falls_back_to_the_group_status(src: GrafanaSource) -> None:
    assert (
        src.lifecycle({"alert": {"labels": {"alertname": "A"}}, "group": {"status": "resolved"}}) is Lifecycle.resolved
    )
    assert src.lifecycle({"alert": {"labels": {"alertname": "A"}}, "group": {}}) is Lifecycle.firing


@pytest.mark.parametrize("item", [None, "resolved", {"alert": "resolved"}, {"status": "resolved"}, [1]])
def test_lifecycle_of_odd_items_is_firing(src: GrafanaSource, item: Any) -> None:
    assert src.lifecycle(item) is Lifecycle.firing


# --- stream keys --------------------------------------------------------------------------------


def test_firing_and_resolved_share_the_fingerprint_key(src: GrafanaSource) -> None:
    fire = one(src, "grafana11_firing.json")
    res = one(src, "grafana11_resolved.json")
    assert src.stream_key(fire) == "grafana:c6eadffa33fcdf37"
    assert src.stream_key(res) == src.stream_key(fire)


def test_different_alerts_in_a_batch_get_different_keys(src: GrafanaSource) -> None:
    keys = [src.stream_key(i) for i in src.split(load("grafana9_firing.json"))]
    assert keys == ["grafana:aaafafe0953f0962", "grafana:fb31814ac93dbe7d"]


def test_key_without_fingerprint_hashes_labels_in_any_order(src: GrafanaSource) -> None:
    one_ = {"alert": {"labels": {"alertname": "A", "instance": "i", "job": "j"}}}
    same = {"alert": {"labels": {"job": "j", "instance": "i", "alertname": "A"}, "fingerprint": ""}}
    other = {"alert": {"labels": {"alertname": "A", "instance": "k", "job": "j"}}}
    key = src.stream_key(one_)
    assert key.startswith("grafana:")
    assert key == src.stream_key(same)
    assert key != src.stream_key(other)
    # the edge fixture has no fingerprint: its key is the label hash, stable across deliveries
    edge = one(src, "edge_strings_bigints.json")
    assert src.stream_key(edge) == src.stream_key(copy.deepcopy(edge))
    assert src.normalize(edge).fingerprint is None


def test_legacy_alert_ok_and_pending_share_the_rule_key(src: GrafanaSource) -> None:
    keys = {src.stream_key(load(n)) for n in ("legacy_alerting.json", "legacy_ok.json", "legacy_pending.json")}
    assert keys == {"grafana:legacy:1:42"}
    assert src.stream_key(load("legacy_no_data.json")) == "grafana:legacy:1:3"
    # another org's rule 42 is another alert
    assert src.stream_key({**load("legacy_alerting.json"), "orgId": 2}) == "grafana:legacy:2:42"


def test_legacy_key_without_org_id_is_the_default_org(src: GrafanaSource) -> None:
    # Grafana < 6.6 did not send orgId; those rules live in org 1.
    body = load("legacy_alerting.json")
    del body["orgId"]
    assert src.stream_key(body) == "grafana:legacy:1:42"


def test_legacy_test_notifications_share_one_key_despite_random_rule_ids(src: GrafanaSource) -> None:
    body = load("legacy_test.json")
    again = {**body, "ruleId": 8674665223082153551}
    assert src.stream_key(body) == src.stream_key(again) == "grafana:legacy:test:0"


def test_legacy_key_without_rule_id_uses_the_rule_name_not_the_state_prefix(src: GrafanaSource) -> None:
    fire = {"ruleName": "Ingest lag", "state": "alerting", "title": "[Alerting] Ingest lag"}
    ok = {"ruleName": "Ingest lag", "state": "ok", "title": "[OK] Ingest lag"}
    no_name = {"state": "alerting", "title": "[Alerting] Ingest lag", "ruleUrl": "https://g/x"}
    assert src.stream_key(fire) == src.stream_key(ok)
    assert src.stream_key(fire).startswith("grafana:legacy:")
    assert src.stream_key(no_name) == src.stream_key({**no_name, "title": "[OK] Ingest lag"})


@pytest.mark.parametrize("ident", ["x" * 500, "has space", "new\nline", "\u200b"])
def test_awkward_fingerprints_are_hashed_into_short_printable_keys(src: GrafanaSource, ident: str) -> None:
    key = src.stream_key({"alert": {"fingerprint": ident}})
    assert key.startswith("grafana:")
    assert len(key) <= MAX_STREAM_KEY
    assert all(ch.isprintable() and not ch.isspace() for ch in key)


# --- normalize ----------------------------------------------------------------------------------


def test_normalize_main_fixture_field_by_field(src: GrafanaSource) -> None:
    alert = src.normalize(one(src, "grafana11_firing.json"))
    assert alert.source == "grafana"
    assert alert.title == "Checkout 5xx rate above 5%"
    assert alert.description == "5xx ratio is 7.4% over the last 5 minutes (threshold 5%)"
    assert alert.severity is Severity.critical
    assert alert.lifecycle is Lifecycle.firing
    assert alert.service == "checkout"
    assert alert.namespace == "shop-prod"
    assert alert.pod == "checkout-7d9f8b6c5d-x2x9q"
    assert alert.deployment == "checkout"
    assert alert.fingerprint == "c6eadffa33fcdf37"
    assert alert.labels == {
        "alertname": "CheckoutHighErrorRate",
        "grafana_folder": "Payments",
        "namespace": "shop-prod",
        "pod": "checkout-7d9f8b6c5d-x2x9q",
        "deployment": "checkout",
        "service": "checkout",
        "severity": "critical",
        "team": "payments",
    }
    assert alert.annotations["value_B"] == "0.0741"
    assert alert.annotations["value_C"] == "1"
    assert alert.annotations["value_string"].startswith("[ var='B' labels={namespace=shop-prod")
    assert alert.annotations["grafana_org_id"] == "1"
    assert alert.annotations["summary"] == "Checkout 5xx rate above 5%"
    assert alert.links == {
        "runbook": "https://runbooks.example.com/payments/checkout-5xx",
        "generator": "https://grafana.example.com/alerting/grafana/fdl3kq9x2pm2oe/view?orgId=1",
        "dashboard": "https://grafana.example.com/d/checkout-red?from=1717402360158&orgId=1&to=1717405960158",
        "panel": "https://grafana.example.com/d/checkout-red?from=1717402360158&orgId=1&to=1717405960158&viewPanel=4",
        "silence": load("grafana11_firing.json")["alerts"][0]["silenceURL"],
        "image": "https://grafana.example.com/public/img/attachments/f1c7XwDOp3cbM0h2sZkq.png",
        "grafana": "https://grafana.example.com/",
    }
    assert alert.started_at == datetime(2024, 6, 3, 9, 12, 40, 158364, tzinfo=UTC)
    assert alert.ended_at is None  # "0001-01-01T00:00:00Z" means not ended
    assert "test_notification" not in alert.labels


def test_normalize_resolved(src: GrafanaSource) -> None:
    alert = src.normalize(one(src, "grafana11_resolved.json"))
    assert alert.lifecycle is Lifecycle.resolved
    assert alert.ended_at == datetime(2024, 6, 3, 9, 31, 40, 158364, tzinfo=UTC)
    assert alert.annotations["value_C"] == "0"
    assert "image" not in alert.links


def test_grafana9_value_string_only_and_offset_times(src: GrafanaSource) -> None:
    first, _ = (src.normalize(i) for i in src.split(load("grafana9_firing.json")))
    assert not any(k.startswith("value_") and k != "value_string" for k in first.annotations)
    assert "value=18240" in first.annotations["value_string"]
    assert first.started_at == datetime(2022, 11, 8, 13, 2, 10, 782137, tzinfo=UTC)
    assert first.severity is Severity.medium  # severity=warning
    assert first.service == "rabbitmq"  # job label
    assert set(first.links) == {"runbook", "generator", "silence", "grafana"}  # empty dashboard/panel URLs dropped


def test_grafana10_values_priority_and_image(src: GrafanaSource) -> None:
    alert = src.normalize(one(src, "grafana10_firing.json"))
    assert alert.severity is Severity.high  # priority=P2
    assert alert.annotations["value_A"] == "2473545728"  # an integer stays an integer
    assert alert.annotations["value_B"] == "7.21"
    assert alert.links["image"].endswith("sX5v2CPdUPXjBKvqGd1b.png")
    assert alert.links["panel"].endswith("viewPanel=78")


def test_grafana12_per_alert_org_rule_uid_null_values_and_state_reason(src: GrafanaSource) -> None:
    fire, resolved = (src.normalize(i) for i in src.split(load("grafana12_mixed.json")))
    assert fire.annotations["grafana_org_id"] == "3"
    assert fire.annotations["grafana_rule_uid"] == "cfj2nzmpo21hcf"
    assert fire.annotations["value_B"] == "2.31s"  # the rule's own annotation wins over the derived value
    assert fire.annotations["value_C"] == "1"
    assert fire.service == "edge-gateway"
    assert fire.namespace == "edge"  # k8s_namespace_name (OpenTelemetry naming)
    assert fire.severity is Severity.high
    assert resolved.lifecycle is Lifecycle.resolved
    assert not any(k.startswith("value_") for k in resolved.annotations)  # values null, valueString ""
    assert resolved.annotations["grafana_state_reason"] == "MissingSeries"
    assert "MissingSeries" in resolved.description
    assert resolved.ended_at == datetime(2025, 5, 20, 16, 45, 30, tzinfo=UTC)


def test_datasource_error_and_no_data_alerts(src: GrafanaSource) -> None:
    error, nodata_alerting, nodata = (src.normalize(i) for i in src.split(load("grafana12_nodata_error.json")))
    # Grafana's synthetic alert: named after the rule, capped at medium although the rule says critical.
    assert error.title == "DatasourceError: Postgres replication lag"
    assert error.severity is Severity.medium
    assert "connection refused" in error.description
    assert error.service == "orders-db"
    # A rule configured to alert on NoData: its own severity, the reason in the description.
    assert nodata_alerting.title == "nightly-billing stopped reporting its heartbeat"
    assert nodata_alerting.severity is Severity.high
    assert nodata_alerting.description == "Grafana state reason: NoData"
    # DatasourceNoData without a severity label: low.
    assert nodata.title == "DatasourceNoData: Postgres connection saturation"
    assert nodata.severity is Severity.low


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("test_notification.json", "[TEST] Notification test"),
        ("test_notification_grafana8.json", "[TEST] Notification test"),
        ("test_notification_custom.json", "[TEST] Contact point drill for the checkout on-call rotation"),
    ],
)
def test_test_notifications_are_recognisable(src: GrafanaSource, name: str, title: str) -> None:
    alert = src.normalize(one(src, name))
    assert alert.title == title
    assert alert.severity is Severity.info  # even the custom test that says severity=critical
    assert alert.labels["test_notification"] == "true"
    assert alert.lifecycle is Lifecycle.firing


def test_mimir_test_alert_is_a_test_too(src: GrafanaSource) -> None:
    item = {"alert": {"labels": {"alertname": "TestAlert", "instance": "Alertmanager"}}, "group": {}}
    assert src.normalize(item).labels["test_notification"] == "true"


def test_real_alert_named_like_a_test_is_not_a_test(src: GrafanaSource) -> None:
    item = one(src, "grafana11_firing.json")
    item["alert"]["labels"]["alertname"] = "TestAlert"  # no instance=Grafana, real group key, generator URL
    alert = src.normalize(item)
    assert "test_notification" not in alert.labels
    assert alert.severity is Severity.critical


def test_legacy_alerting_field_by_field(src: GrafanaSource) -> None:
    alert = src.normalize(load("legacy_alerting.json"))
    assert alert.source == "grafana"
    assert alert.title == "Postgres disk almost full"  # ruleName, not the "[Alerting] ..." title
    assert alert.description.startswith("Postgres data volume is almost full")
    assert alert.severity is Severity.critical
    assert alert.lifecycle is Lifecycle.firing
    assert alert.service == "orders-db"
    assert alert.labels == {"service": "orders-db", "severity": "critical", "team": "data"}
    assert alert.annotations["value_disk_used_percent{host=db-primary-1,path=/var/lib/postgresql}"] == "97.4"
    assert alert.annotations["value_disk_used_percent{host=db-replica-2,path=/var/lib/postgresql}"] == "95.1"
    assert alert.annotations["grafana_rule_id"] == "42"
    assert alert.annotations["grafana_state"] == "alerting"
    assert alert.links == {
        "generator": "https://grafana.example.com/d/GG2qhR3Wz/postgres?tab=alert&viewPanel=6&orgId=1",
        "panel": "https://grafana.example.com/d/GG2qhR3Wz/postgres?tab=alert&viewPanel=6&orgId=1",
        "image": "https://grafana.example.com/public/img/attachments/hK3tR9vLmWq1.png",
    }
    assert alert.fingerprint == "legacy:1:42"


def test_legacy_no_data_and_test(src: GrafanaSource) -> None:
    nodata = src.normalize(load("legacy_no_data.json"))
    assert nodata.severity is Severity.low
    assert nodata.title == "Ingest lag"
    test = src.normalize(load("legacy_test.json"))
    assert test.title == "[TEST] Test notification"
    assert test.severity is Severity.info
    assert test.labels["test_notification"] == "true"
    assert test.annotations["grafana_rule_id"] == "5577006791947779410"  # a big integer, not a float
    assert test.fingerprint is None  # random rule id: not an identity
    assert test.annotations["value_High value"] == "100"


def test_legacy_repeated_metric_names_are_all_kept(src: GrafanaSource) -> None:
    body = {
        "ruleId": 7,
        "ruleName": "r",
        "state": "alerting",
        "evalMatches": [{"metric": "m", "value": 1}, {"metric": "m", "value": 2}, {"value": 3}, "junk"],
    }
    expected = {"value_m": "1", "value_m#1": "2", "value_2": "3"}
    assert expected.items() <= src.normalize(body).annotations.items()


def test_edge_case_strings_numbers_and_nulls(src: GrafanaSource) -> None:
    alert = src.normalize(one(src, "edge_strings_bigints.json"))
    assert alert.severity is Severity.critical  # priority sent as the number 1
    assert alert.labels["partition"] == "17"
    assert alert.labels["canary"].lower() == "true"
    assert "ignored" not in alert.labels
    assert alert.annotations["value_A"] == "18446744073709551616"  # never float-converted
    assert alert.annotations["value_B"] == "1.2e6"
    assert "value_C" not in alert.annotations
    assert "value_D" not in alert.annotations
    assert alert.annotations["grafana_org_id"] == "2"
    assert alert.annotations["grafana_truncated_alerts"] == "12"
    assert set(alert.links) == {"generator", "grafana"}  # null URLs dropped
    assert alert.started_at == datetime(2024, 3, 1, 4, 59, 59, 999999, tzinfo=UTC)
    assert alert.ended_at is None  # endsAt missing


def test_title_fallbacks(src: GrafanaSource) -> None:
    no_summary = {"alert": {"labels": {"alertname": "DiskFull"}}}
    assert src.normalize(no_summary).title == "DiskFull"
    no_alertname = {"alert": {"labels": {"team": "a"}}, "group": {"title": "[FIRING:1]  (a)"}}
    assert src.normalize(no_alertname).title == "[FIRING:1]  (a)"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"alert": {"status": "firing"}}, "neither labels nor annotations"),
        ({"alert": {"labels": {"severity": "high"}}, "group": {}}, "no title"),
        ({"alerts": [], "orgId": 1, "version": "1"}, "empty 'alerts' list"),
        ({"text": "custom payload"}, "custom payload template"),
        ("text", "not a Grafana alert"),
        (None, "not a Grafana alert"),
        ({"ruleId": 3, "state": "alerting"}, "no title"),
    ],
)
def test_normalization_errors_say_what_is_missing(src: GrafanaSource, item: Any, reason: str) -> None:
    with pytest.raises(NormalizationError, match=reason):
        src.normalize(item)


# --- severity -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("critical", Severity.critical),
        ("Disaster", Severity.critical),
        ("P1", Severity.critical),
        ("sev-1", Severity.critical),
        (1, Severity.critical),
        ("high", Severity.high),
        ("urgent", Severity.high),
        ("ERROR", Severity.high),
        ("2", Severity.high),
        ("warning", Severity.medium),
        ("average", Severity.medium),
        ("low", Severity.low),
        ("P4", Severity.low),
        ("info", Severity.info),
        ("none", Severity.info),
        ("5", Severity.info),
        ("05", Severity.info),
        ("banana", Severity.medium),
        ("", Severity.medium),
    ],
)
def test_severity_table(src: GrafanaSource, value: Any, expected: Severity) -> None:
    item = {"alert": {"labels": {"alertname": "A", "severity": value}}}
    assert src.normalize(item).severity is expected


def test_firing_alert_without_severity_is_medium(src: GrafanaSource) -> None:
    assert src.normalize({"alert": {"labels": {"alertname": "A"}}}).severity is Severity.medium


def test_severity_label_wins_over_priority(src: GrafanaSource) -> None:
    item = {"alert": {"labels": {"alertname": "A", "severity": "low", "priority": "P1"}}}
    assert src.normalize(item).severity is Severity.low


def test_severity_words_table_is_complete() -> None:
    assert set(SEVERITY_WORDS.values()) == set(Severity)


@pytest.mark.parametrize(
    ("label", "expected"),
    [(None, Severity.low), ("info", Severity.info), ("warning", Severity.medium), ("critical", Severity.medium)],
)
def test_datasource_state_alerts_are_capped_at_medium(
    src: GrafanaSource, label: str | None, expected: Severity
) -> None:
    labels = {"alertname": "DatasourceNoData", "rulename": "r"} | ({"severity": label} if label else {})
    assert src.normalize({"alert": {"labels": labels}}).severity is expected


# --- property: no input makes the source raise anything but NormalizationError -------------------

_json = json_values(max_leaves=25)
_edgy = _json | st.sampled_from(
    [
        "0001-01-01T00:00:00Z",
        "2024-06-03T09:12:40.158364661Z",
        "9999-12-31T23:59:59-05:00",
        "firing",
        "resolved",
        "alerting",
        "ok",
        "no_data",
        "paused",
        "TestAlert",
        "Grafana",
        "Notification test",
        "DatasourceNoData",
        "NoData",
        "P1",
        "",
        " ",
        "1",
        "webhook-57c6d9296de2ad39-1744477317",
        '{a="b"}2021-09-02 05:54:04.52289368 +0000 UTC m=+42208.256292221',
        "Someone is testing the alert notification within Grafana.",
    ]
)
_labels = st.dictionaries(
    st.sampled_from(["alertname", "instance", "severity", "priority", "service", "rulename", "grafana_state_reason"])
    | st.text(max_size=5),
    _edgy,
    max_size=5,
)
# Mostly named alerts, so that normalize's success paths (tests, datasource states, values) are reached.
_named_labels = st.fixed_dictionaries(
    {"alertname": st.sampled_from(["TestAlert", "DatasourceError", "DatasourceNoData", "CPU high"]) | st.text()},
    optional={"instance": _edgy, "severity": _edgy, "priority": _edgy, "rulename": _edgy, "service": _edgy},
)
_alert = st.fixed_dictionaries(
    {"labels": _named_labels | _labels | _json},
    optional={
        "status": _edgy,
        "annotations": _labels | _json,
        "startsAt": _edgy,
        "endsAt": _edgy,
        "generatorURL": _edgy,
        "fingerprint": _edgy,
        "silenceURL": _edgy,
        "dashboardURL": _edgy,
        "panelURL": _edgy,
        "imageURL": _edgy,
        "values": st.dictionaries(st.text(max_size=3), _edgy, max_size=3) | _json,
        "valueString": _edgy,
        "orgId": _edgy,
        "ruleUID": _edgy,
    },
)
_unified = st.fixed_dictionaries(
    {"alerts": st.lists(_alert | _json, max_size=3), "version": st.sampled_from(["1", 1, "4"]) | _edgy},
    optional={
        "orgId": _edgy,
        "groupKey": _edgy,
        "state": _edgy,
        "status": _edgy,
        "title": _edgy,
        "externalURL": _edgy,
        "truncatedAlerts": _edgy,
        "receiver": _edgy,
        "message": _edgy,
    },
)
_legacy = st.fixed_dictionaries(
    {"ruleName": st.text(min_size=1) | _edgy},
    optional={
        "ruleId": st.integers() | _edgy,
        "state": _edgy,
        "title": _edgy,
        "message": _edgy,
        "orgId": _edgy,
        "dashboardId": _edgy,
        "panelId": _edgy,
        "ruleUrl": _edgy,
        "imageUrl": _edgy,
        "tags": _labels | _json,
        "evalMatches": st.lists(
            st.fixed_dictionaries({}, optional={"value": _edgy, "metric": _edgy, "tags": _json}) | _json,
            max_size=3,
        )
        | _json,
    },
)
_headers = st.dictionaries(
    st.sampled_from(["user-agent", "x-grafana-alert-signature", "content-type"]),
    st.sampled_from(["Grafana", "Grafana/11.1.0", "Alertmanager/0.27.0", "", "curl/8"]) | st.text(max_size=10),
    max_size=3,
)
payloads = _json | _unified | _legacy | st.lists(_legacy, max_size=2)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, headers=_headers)
def test_never_raises_unexpected_errors(payload: Any, headers: dict[str, str]) -> None:
    check_never_raises(GrafanaSource(), payload, headers)
