"""Alert sources: detection, splitting, lifecycle, stream keys, normalization and the registry.

Alertmanager payloads are the bodies a real Alertmanager 0.25 posted (copied from ../shared/fixtures
into tests/fixtures so the tests do not depend on a sibling checkout).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.alert_sources import GENERIC, AlertSource, SourceRegistry, default_registry
from adapters.alert_sources.alertmanager import AlertmanagerSource
from adapters.alert_sources.base import (
    MAX_STREAM_KEY,
    fallback_key,
    first_text,
    parse_severity,
    parse_time,
    string_map,
    text_or_none,
)
from adapters.alert_sources.webhook import WebhookSource
from domain.models import Lifecycle, NormalizationError, Severity
from tests.unit.source_checks import (
    alert_vendors,
    check_never_raises,
    claimed_fixtures,
    detected_slugs,
    fixture_names,
    json_values,
    load_fixture,
)

FINGERPRINT = "7d2d332feada5c59"


@pytest.fixture
def firing() -> dict[str, Any]:
    return load_fixture("alertmanager", "firing.json")


@pytest.fixture
def resolved() -> dict[str, Any]:
    return load_fixture("alertmanager", "resolved.json")


@pytest.fixture
def registry() -> SourceRegistry:
    return default_registry()


@pytest.fixture
def am() -> AlertmanagerSource:
    return AlertmanagerSource()


@pytest.fixture
def hook() -> WebhookSource:
    return WebhookSource()


def three_alerts(body: dict[str, Any]) -> dict[str, Any]:
    """The firing body with three distinct alerts in its group."""
    out = copy.deepcopy(body)
    base = out["alerts"][0]
    out["alerts"] = []
    for n in range(3):
        alert = copy.deepcopy(base)
        alert["fingerprint"] = f"fp{n}"
        alert["labels"]["instance"] = f"web-{n}"
        out["alerts"].append(alert)
    return out


# --- detection ----------------------------------------------------------------------------------


def test_alertmanager_detected_by_shape(registry: SourceRegistry, firing: dict[str, Any]) -> None:
    matches = registry.detect(firing, {}, fallback=GENERIC)
    assert [s.slug for s in matches] == ["alertmanager"]


def test_alertmanager_detected_by_user_agent_whatever_the_body(registry: SourceRegistry) -> None:
    matches = registry.detect({"title": "x"}, {"user-agent": "Alertmanager/0.25.0"}, fallback=GENERIC)
    assert [s.slug for s in matches] == ["alertmanager"]


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "disk full", "severity": "high"},
        {"alerts": [{"labels": {"alertname": "X"}}]},  # no groupKey: not Alertmanager's shape
        {"alerts": [], "groupKey": "{}", "version": "5"},  # a version we do not know
        {"groupKey": "{}", "alerts": "not a list"},
        [{"title": "a"}],
        "plain text",
        None,
    ],
)
def test_other_bodies_fall_back_to_generic(registry: SourceRegistry, payload: Any) -> None:
    assert registry.detect(payload, {"user-agent": "curl/8.0"}, fallback=GENERIC) == []


def test_other_vendors_fixtures_are_not_alertmanager(am: AlertmanagerSource) -> None:
    assert claimed_fixtures(am) == []


@pytest.mark.parametrize(
    ("vendor", "name"), [(vendor, name) for vendor in alert_vendors() for name in fixture_names(vendor)]
)
def test_every_vendor_fixture_is_detected_by_its_vendor_alone(vendor: str, name: str) -> None:
    assert detected_slugs(load_fixture(vendor, name), {}) == [vendor]


def test_registry_detect_never_returns_the_fallback(registry: SourceRegistry, firing: dict[str, Any]) -> None:
    # The generic source matches everything; it must not make every Alertmanager body ambiguous.
    assert WebhookSource().detect(firing, {}) is True
    assert all(s.slug != GENERIC for s in registry.detect(firing, {}, fallback=GENERIC))


# --- split --------------------------------------------------------------------------------------


def test_alertmanager_split_one_item_per_alert_with_group_context(
    am: AlertmanagerSource, firing: dict[str, Any]
) -> None:
    body = three_alerts(firing)
    items = am.split(body)
    assert len(items) == 3
    assert [item["alert"]["fingerprint"] for item in items] == ["fp0", "fp1", "fp2"]
    for item in items:
        group = item["group"]
        assert group["externalURL"] == "http://vm:9093"
        assert group["receiver"] == "sre-webhook"
        assert group["groupKey"] == firing["groupKey"]
        assert group["commonLabels"] == firing["commonLabels"]
        assert "alerts" not in group  # each item carries its own alert only


@pytest.mark.parametrize(
    "payload",
    [{"receiver": "x"}, {"alerts": []}, {"alerts": "nope"}, [1, 2], "text", None, 3],
)
def test_alertmanager_split_without_alerts_list_is_one_item(am: AlertmanagerSource, payload: Any) -> None:
    assert am.split(payload) == [payload]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"title": "a"}, [{"title": "a"}]),
        ([{"title": "a"}, {"title": "b"}], [{"title": "a"}, {"title": "b"}]),
        ({"alerts": [{"title": "a"}, {"title": "b"}]}, [{"title": "a"}, {"title": "b"}]),
        ({"alerts": []}, [{"alerts": []}]),
        ([], [[]]),
        ("text", ["text"]),
    ],
)
def test_webhook_split(hook: WebhookSource, payload: Any, expected: list[Any]) -> None:
    assert hook.split(payload) == expected


# --- lifecycle ----------------------------------------------------------------------------------


def test_alertmanager_lifecycle(am: AlertmanagerSource, firing: dict[str, Any], resolved: dict[str, Any]) -> None:
    assert [am.lifecycle(i) for i in am.split(firing)] == [Lifecycle.firing]
    assert [am.lifecycle(i) for i in am.split(resolved)] == [Lifecycle.resolved]


def test_alertmanager_lifecycle_is_per_alert_not_per_group(am: AlertmanagerSource, firing: dict[str, Any]) -> None:
    body = three_alerts(firing)
    body["alerts"][1]["status"] = "resolved"  # the group still says "firing"
    assert [am.lifecycle(i) for i in am.split(body)] == [Lifecycle.firing, Lifecycle.resolved, Lifecycle.firing]


@pytest.mark.parametrize("item", [None, "resolved", {"alert": "resolved"}, {"status": "resolved"}])
def test_alertmanager_lifecycle_of_odd_items_is_firing(am: AlertmanagerSource, item: Any) -> None:
    assert am.lifecycle(item) is Lifecycle.firing


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"status": "firing"}, Lifecycle.firing),
        ({"status": "triggered"}, Lifecycle.firing),
        ({"status": "resolved"}, Lifecycle.resolved),
        ({"status": "closed"}, Lifecycle.resolved),
        ({"status": "OK"}, Lifecycle.resolved),
        ({"state": "ok"}, Lifecycle.resolved),
        ({"state": "recovered"}, Lifecycle.resolved),
        ({"status": "acknowledged"}, Lifecycle.acknowledged),
        ({"event_type": "ack"}, Lifecycle.acknowledged),
        ({"action": "close"}, Lifecycle.resolved),
        ({"status": "something-new"}, Lifecycle.firing),
        ({"status": None}, Lifecycle.firing),
        ({}, Lifecycle.firing),
        ("resolved", Lifecycle.firing),
        (["resolved"], Lifecycle.firing),
    ],
)
def test_webhook_lifecycle_words(hook: WebhookSource, item: Any, expected: Lifecycle) -> None:
    assert hook.lifecycle(item) is expected


# --- stream keys --------------------------------------------------------------------------------


def test_alertmanager_stream_key_is_the_fingerprint(
    am: AlertmanagerSource, firing: dict[str, Any], resolved: dict[str, Any]
) -> None:
    (fire,) = am.split(firing)
    (res,) = am.split(resolved)
    assert am.stream_key(fire) == f"alertmanager:{FINGERPRINT}"
    assert am.stream_key(res) == am.stream_key(fire)  # the resolve reaches the same workflow


def test_alertmanager_stream_key_without_fingerprint_hashes_labels_in_any_order(am: AlertmanagerSource) -> None:
    one = {"alert": {"labels": {"alertname": "A", "service": "s", "instance": "i"}}}
    same = {"alert": {"labels": {"instance": "i", "service": "s", "alertname": "A"}}}
    other = {"alert": {"labels": {"alertname": "A", "service": "s", "instance": "j"}}}
    key = am.stream_key(one)
    assert key.startswith("alertmanager:")
    assert key == am.stream_key(same)
    assert key != am.stream_key(other)
    # An empty fingerprint is no fingerprint: fall back to the labels.
    assert am.stream_key({"alert": {**one["alert"], "fingerprint": ""}}) == key


def test_alertmanager_split_items_get_distinct_keys(am: AlertmanagerSource, firing: dict[str, Any]) -> None:
    keys = [am.stream_key(i) for i in am.split(three_alerts(firing))]
    assert keys == ["alertmanager:fp0", "alertmanager:fp1", "alertmanager:fp2"]


@pytest.mark.parametrize("field", ["fingerprint", "dedup_key", "dedupKey", "alias", "alert_id", "id", "incident_id"])
def test_webhook_stream_key_from_id_fields(hook: WebhookSource, field: str) -> None:
    assert hook.stream_key({field: "abc-123", "title": "t"}) == "webhook:abc-123"


def test_webhook_numeric_id_is_used_as_text(hook: WebhookSource) -> None:
    assert hook.stream_key({"id": 42, "title": "t"}) == "webhook:42"


def test_webhook_stream_key_without_id_is_title_and_service(hook: WebhookSource) -> None:
    key = hook.stream_key({"title": "disk full", "service": "db", "description": "first"})
    assert key.startswith("webhook:")
    # Repeats of the same alert share a stream even when their free text differs.
    assert key == hook.stream_key({"title": "disk full", "service": "db", "description": "second"})
    assert key == hook.stream_key({"title": "disk full", "labels": {"service": "db"}})
    assert key != hook.stream_key({"title": "disk full", "service": "web"})
    assert key != hook.stream_key({"title": "disk empty", "service": "db"})


@pytest.mark.parametrize(
    "ident",
    ["x" * 500, "has space", "tab\there", "new\nline", " ", "\u200b" * 3],
    ids=["long", "space", "tab", "newline", "blank", "zero-width"],
)
def test_awkward_ids_are_hashed_into_short_printable_keys(
    am: AlertmanagerSource, hook: WebhookSource, ident: str
) -> None:
    for source, item in ((am, {"alert": {"fingerprint": ident}}), (hook, {"id": ident})):
        key = source.stream_key(item)
        assert len(key) <= MAX_STREAM_KEY
        assert all(ch.isprintable() and not ch.isspace() for ch in key)
        assert key == source.stream_key(copy.deepcopy(item))  # stable


def test_long_ids_differing_only_at_the_end_get_distinct_keys(hook: WebhookSource) -> None:
    assert hook.stream_key({"id": "a" * 300 + "1"}) != hook.stream_key({"id": "a" * 300 + "2"})


def test_key_at_the_limit_is_kept_verbatim(hook: WebhookSource) -> None:
    ident = "k" * (MAX_STREAM_KEY - len("webhook:"))
    assert hook.stream_key({"id": ident}) == f"webhook:{ident}"
    assert hook.stream_key({"id": ident + "k"}) != f"webhook:{ident}k"


@pytest.mark.parametrize("item", [None, "text", 7, [1, 2], {"alert": "x"}])
def test_stream_key_of_odd_items_is_stable(am: AlertmanagerSource, hook: WebhookSource, item: Any) -> None:
    for source in (am, hook):
        assert source.stream_key(item) == source.stream_key(copy.deepcopy(item))
        assert source.stream_key(item).startswith(f"{source.slug}:")


# --- normalize: Alertmanager --------------------------------------------------------------------


def test_normalize_real_firing_alert(am: AlertmanagerSource, firing: dict[str, Any]) -> None:
    (item,) = am.split(firing)
    alert = am.normalize(item)
    assert alert.source == "alertmanager"
    assert alert.title == "5xx rate above 5% on checkout"
    assert alert.severity is Severity.critical
    assert alert.lifecycle is Lifecycle.firing
    assert alert.service == "checkout"
    assert alert.fingerprint == FINGERPRINT
    assert alert.labels == {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"}
    # Go sends nanoseconds; we keep microseconds.
    assert alert.started_at == datetime(2026, 11, 27, 23, 14, 51, 456210, tzinfo=UTC)
    assert alert.ended_at is None  # "0001-01-01T00:00:00Z" means not ended
    assert alert.links == {
        "runbook": "http://runbooks.local/checkout",
        "generator": "http://prometheus.local/graph",
        "alertmanager": "http://vm:9093",
    }


def test_normalize_real_resolved_alert(am: AlertmanagerSource, resolved: dict[str, Any]) -> None:
    (item,) = am.split(resolved)
    alert = am.normalize(item)
    assert alert.lifecycle is Lifecycle.resolved
    assert alert.ended_at == datetime(2026, 11, 27, 23, 14, 55, tzinfo=UTC)


def test_alertmanager_title_falls_back_to_alertname(am: AlertmanagerSource) -> None:
    alert = am.normalize({"alert": {"labels": {"alertname": "DiskFull", "app": "db"}, "annotations": {}}})
    assert alert.title == "DiskFull"
    assert alert.service == "db"
    assert alert.severity is Severity.medium
    assert alert.links == {}


def test_alertmanager_item_without_group_still_normalizes(am: AlertmanagerSource) -> None:
    alert = am.normalize({"alert": {"labels": {"alertname": "A"}}, "group": "not an object"})
    assert alert.title == "A"
    assert "alertmanager" not in alert.links


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"labels": {"alertname": "A"}}, "not an Alertmanager alert"),  # not split by this source
        ("text", "not an Alertmanager alert"),
        ({"alert": {"status": "firing"}}, "neither labels nor annotations"),
        ({"alert": {"labels": {"severity": "high"}, "annotations": {"description": "d"}}}, "no title"),
    ],
)
def test_alertmanager_normalization_errors(am: AlertmanagerSource, item: Any, reason: str) -> None:
    with pytest.raises(NormalizationError, match=reason):
        am.normalize(item)


# --- normalize: generic webhook -----------------------------------------------------------------


def test_webhook_normalize_full(hook: WebhookSource) -> None:
    alert = hook.normalize(
        {
            "name": "Queue backlog",
            "message": "backlog above 10k",
            "priority": "P2",
            "state": "open",
            "app": "billing",
            "namespace": "prod",
            "id": "inc-7",
            "tags": ["team:payments", "region=eu", "canary"],
            "url": "https://example.test/inc/7",
            "runbook_url": "https://example.test/rb",
            "started_at": "2024-05-01T12:00:00+02:00",
        }
    )
    assert alert.title == "Queue backlog"
    assert alert.description == "backlog above 10k"
    assert alert.severity is Severity.high
    assert alert.lifecycle is Lifecycle.firing
    assert alert.service == "billing"
    assert alert.namespace == "prod"
    assert alert.fingerprint == "inc-7"
    assert alert.labels == {"team": "payments", "region": "eu", "canary": ""}
    assert alert.links == {"url": "https://example.test/inc/7", "runbook": "https://example.test/rb"}
    assert alert.started_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_label_values_that_are_numbers_or_booleans_become_strings(am: AlertmanagerSource, hook: WebhookSource) -> None:
    labels = {"alertname": "A", "replicas": 3, "ratio": 0.5, "canary": True, "nested": {"x": 1}, "gone": None}
    for alert in (hook.normalize({"title": "t", "labels": labels}), am.normalize({"alert": {"labels": labels}})):
        assert alert.labels["replicas"] == "3"
        assert alert.labels["ratio"] == "0.5"
        assert alert.labels["canary"].lower() == "true"
        assert "nested" not in alert.labels  # not a scalar: dropped rather than stringified
        assert "gone" not in alert.labels
        assert all(isinstance(v, str) for v in alert.labels.values())


@pytest.mark.parametrize("item", ["text", 42, None, ["title"], True])
def test_webhook_non_object_items_are_refused(hook: WebhookSource, item: Any) -> None:
    with pytest.raises(NormalizationError, match="expected a JSON object"):
        hook.normalize(item)


@pytest.mark.parametrize(
    "item",
    [{}, {"description": "no title here", "severity": "high"}, {"title": ""}, {"title": "   "}, {"title": {"x": 1}}],
)
def test_webhook_objects_without_a_title_are_refused(hook: WebhookSource, item: dict[str, Any]) -> None:
    with pytest.raises(NormalizationError, match="no title"):
        hook.normalize(item)


def test_webhook_title_from_alertname_label(hook: WebhookSource) -> None:
    assert hook.normalize({"labels": {"alertname": "CPUHigh"}}).title == "CPUHigh"


def test_webhook_epoch_seconds_and_milliseconds_agree(hook: WebhookSource) -> None:
    seconds = hook.normalize({"title": "t", "timestamp": 1_700_000_000})
    millis = hook.normalize({"title": "t", "timestamp": 1_700_000_000_000})
    as_text = hook.normalize({"title": "t", "timestamp": "1700000000"})
    expected = datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert seconds.started_at == millis.started_at == as_text.started_at == expected


# --- severity -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("critical", Severity.critical),
        ("CRIT", Severity.critical),
        ("P1", Severity.critical),
        ("sev-1", Severity.critical),
        ("page", Severity.critical),
        ("error", Severity.high),
        ("major", Severity.high),
        ("sev_2", Severity.high),
        ("warning", Severity.medium),
        (" Warn ", Severity.medium),
        ("minor", Severity.low),
        ("info", Severity.info),
        ("OK", Severity.info),
        (1, Severity.critical),
        (2, Severity.high),
        (3, Severity.medium),
        (4, Severity.low),
        (5, Severity.info),
        (2.0, Severity.high),
        ("1", Severity.critical),
        ("04", Severity.low),
        ("banana", Severity.medium),
        ("", Severity.medium),
        (9, Severity.medium),
        (None, Severity.medium),
        (True, Severity.medium),
    ],
)
def test_severity_table(value: Any, expected: Severity) -> None:
    assert parse_severity(value) is expected


def test_severity_default_is_configurable() -> None:
    assert parse_severity("unknown", default=Severity.low) is Severity.low


@pytest.mark.parametrize(("priority", "expected"), [(1, Severity.critical), (4, Severity.low), ("2", Severity.high)])
def test_numeric_priority_reaches_the_alert(hook: WebhookSource, priority: Any, expected: Severity) -> None:
    # Sources stringify scalars before mapping: a JSON number must still read as p<n>.
    assert hook.normalize({"title": "t", "priority": priority}).severity is expected
    assert hook.normalize({"title": "t", "labels": {"severity": priority}}).severity is expected


@pytest.mark.parametrize(("word", "expected"), [("warning", Severity.medium), ("page", Severity.critical)])
def test_alertmanager_severity_label(am: AlertmanagerSource, word: str, expected: Severity) -> None:
    assert am.normalize({"alert": {"labels": {"alertname": "A", "severity": word}}}).severity is expected


# --- time parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T23:14:51.456210332Z", datetime(2026, 11, 27, 23, 14, 51, 456210, tzinfo=UTC)),
        ("2026-11-27T23:14:51.4Z", datetime(2026, 11, 27, 23, 14, 51, 400000, tzinfo=UTC)),
        ("2026-11-27T23:14:51.456210332+01:00", datetime(2026, 11, 27, 22, 14, 51, 456210, tzinfo=UTC)),
        ("2026-11-27T23:14:51", datetime(2026, 11, 27, 23, 14, 51, tzinfo=UTC)),
        (1_700_000_000.5, datetime.fromtimestamp(1_700_000_000.5, tz=UTC)),
        ("0001-01-01T00:00:00Z", None),
        (0, None),
        (-5, None),
        ("", None),
        (None, None),
        (True, None),
        ("yesterday", None),
        ({"at": 1}, None),
        (10**400, None),
        ("9999-12-31T23:59:59-05:00", None),  # past the end of datetime once in UTC
        ("00010101T000000+0100", None),  # before year 1 once in UTC
    ],
)
def test_parse_time(value: Any, expected: datetime | None) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1686910612, datetime(2023, 6, 16, 10, 16, 52, tzinfo=UTC)),  # seconds
        (1686910612345, datetime(2023, 6, 16, 10, 16, 52, 345000, tzinfo=UTC)),  # milliseconds
        (1686910612345678, datetime(2023, 6, 16, 10, 16, 52, 345678, tzinfo=UTC)),  # microseconds
        (1686910612345678901, datetime(2023, 6, 16, 10, 16, 52, 345678, tzinfo=UTC)),  # nanoseconds
        ("1686910612345678901", datetime(2023, 6, 16, 10, 16, 52, 345678, tzinfo=UTC)),
        (1.686910612345678e18, datetime(2023, 6, 16, 10, 16, 52, 345678, tzinfo=UTC)),
        (1420452193166002000, datetime(2015, 1, 5, 10, 3, 13, 166002, tzinfo=UTC)),  # Opsgenie's doc sample
        ("2023-06-16T10:16:52Z", datetime(2023, 6, 16, 10, 16, 52, tzinfo=UTC)),
        (10**30, None),
        ("9" * 5000, None),
        (float("inf"), None),
        (-1686910612345678901, None),
        (0, None),
        (True, None),
        (None, None),
        ("soon", None),
    ],
)
def test_parse_time_reads_every_epoch_unit(value: Any, expected: datetime | None) -> None:
    # Opsgenie sends createdAt in milliseconds but updatedAt in nanoseconds.
    assert parse_time(value) == expected


def test_parsed_times_are_utc() -> None:
    parsed = parse_time("2024-01-01T00:00:00-08:00")
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


# --- text helpers -------------------------------------------------------------------------------

HUGE = 10**5000  # past Python's 4300-digit str() limit: str() raises ValueError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" text ", "text"),
        (42, "42"),
        pytest.param(HUGE, None, id="huge-int"),
        ("bad \ud800 text", "bad \\ud800 text"),  # a lone surrogate is escaped, so the text can be stored
        ("", None),
        (None, None),
        ({"a": 1}, None),
        ([1], None),
    ],
)
def test_text_or_none(value: Any, expected: str | None) -> None:
    assert text_or_none(value) == expected


def test_text_or_none_truncates_before_escaping() -> None:
    assert text_or_none("abc", limit=2) == "ab"
    assert text_or_none("a\ud800b", limit=2) == "a\\ud800"


def test_string_map_never_raises_and_escapes_surrogates() -> None:
    assert string_map({"k\udfff": "v\ud800", "n": HUGE, "ok": 1}) == {"k\\udfff": "v\\ud800", "ok": "1"}
    assert string_map(["a\ud800:b", "c=d", "flag"]) == {"a\\ud800": "b", "c": "d", "flag": ""}
    assert string_map("k:v") == {}  # text is not a tag list


def test_first_text_takes_the_first_non_empty_key() -> None:
    obj = {"a": "", "b": None, "c": HUGE, "d": " found ", "e": "later"}
    assert first_text(obj, ("a", "b", "c", "d", "e")) == "found"
    assert first_text(obj, ("a", "b")) is None
    assert first_text({"a": "abcdef"}, ("a",), limit=3) == "abc"
    assert first_text(obj, ("d", "e"), read=lambda value, limit: None if value == " found " else value) == "later"


def test_fallback_key_never_raises_and_is_stable() -> None:
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]  # repr() raises RecursionError
    assert fallback_key(nested) == fallback_key(nested)
    assert fallback_key([HUGE]) == fallback_key([HUGE])  # repr() raises ValueError
    assert fallback_key(["a"]) == fallback_key(["a"]) != fallback_key(["b"])


@pytest.mark.parametrize("item", [[HUGE], HUGE, "text"], ids=["list-of-huge-int", "huge-int", "text"])
def test_unreadable_items_get_a_stream_key(am: AlertmanagerSource, hook: WebhookSource, item: Any) -> None:
    for source in (am, hook):
        assert source.stream_key(item).startswith(f"{source.slug}:")


# --- registry -----------------------------------------------------------------------------------


def test_registry_names_include_aliases(registry: SourceRegistry) -> None:
    assert registry.names() == [
        "alertmanager",
        "datadog",
        "grafana",
        "new-relic",
        "newrelic",
        "opsgenie",
        "pagerduty",
        "prometheus",
        "webhook",
    ]


def test_alias_resolves_to_the_same_source(registry: SourceRegistry) -> None:
    assert registry.get("prometheus") is registry.get("alertmanager")
    assert "prometheus" in registry
    assert "alertmanager" in registry


def test_unknown_source_raises_key_error(registry: SourceRegistry) -> None:
    with pytest.raises(KeyError, match="zabbix"):
        registry.get("zabbix")
    assert "zabbix" not in registry
    assert 42 not in registry


@pytest.mark.parametrize(
    ("slug", "aliases"),
    [("webhook", ()), ("alertmanager", ()), ("fresh", ("prometheus",)), ("prometheus", ()), ("fresh", ("webhook",))],
)
def test_duplicate_slug_or_alias_raises_and_changes_nothing(
    registry: SourceRegistry, slug: str, aliases: tuple[str, ...]
) -> None:
    source = WebhookSource()
    source.slug = slug
    before = registry.names()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(source, aliases=aliases)
    assert registry.names() == before
    assert registry.get("webhook") is not source


def test_builtin_sources_satisfy_the_protocol(registry: SourceRegistry) -> None:
    assert all(isinstance(registry.get(name), AlertSource) for name in registry.names())


# --- property: no input makes a source raise anything but NormalizationError ---------------------

_json = json_values(max_size=5, max_leaves=30)


def _go_time(dt: datetime, minutes: int, nanos: str) -> str:
    """An ISO time with an offset, optionally with Go's nanosecond digits."""
    text = dt.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(timespec="microseconds")
    return text[:26] + nanos + text[26:]


# The ends of the datetime range matter: an offset can push a time past them once converted to UTC.
_any_datetime = (
    st.datetimes() | st.datetimes(min_value=datetime(9999, 12, 31)) | st.datetimes(max_value=datetime(1, 1, 2))
)
_iso_times = st.builds(
    _go_time, _any_datetime, st.integers(min_value=-1439, max_value=1439), st.sampled_from(["", "123"])
)
# Values near the edges of what sources interpret: times (incl. offsets at the datetime range's ends),
# severities, ids. Mixed into vendor-shaped objects so the interesting code paths are reached.
_edgy = _json | _iso_times | st.sampled_from(["0001-01-01T00:00:00Z", "P1", "resolved", "ok", "", " "])
_labels = st.dictionaries(st.sampled_from(["alertname", "severity", "service", "priority", "pod"]) | st.text(), _edgy)
_am_alert = st.fixed_dictionaries(
    {},
    optional={
        "status": _edgy,
        "labels": _labels | _json,
        "annotations": _labels | _json,
        "startsAt": _edgy,
        "endsAt": _edgy,
        "generatorURL": _edgy,
        "fingerprint": _edgy,
    },
)
_am_body = st.fixed_dictionaries(
    {"alerts": st.lists(_am_alert | _json, max_size=3), "groupKey": _edgy},
    optional={"version": _edgy, "externalURL": _edgy, "status": _edgy, "receiver": _edgy},
)
_GENERIC_KEYS = (
    "title name status severity priority id service labels tags links timestamp started_at endsAt url annotations"
)
_generic = st.fixed_dictionaries({}, optional=dict.fromkeys(_GENERIC_KEYS.split(), _edgy))
payloads = _json | _am_body | _generic | st.lists(_generic, max_size=3)

_REGISTRY = default_registry()
_SOURCES = list({id(s): s for s in map(_REGISTRY.get, _REGISTRY.names())}.values())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads)
def test_sources_never_raise_unexpected_errors(payload: Any) -> None:
    for source in _SOURCES:
        check_never_raises(source, payload)
