"""A workspace's field mapping for the generic webhook source (in-house JSON shapes)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.alert_sources import default_registry, source_for
from adapters.alert_sources.mapping import MappedWebhookSource, lookup
from domain.models import Lifecycle, NormalizationError, Severity
from domain.settings import WebhookMapping, WorkspaceConfig
from tests.unit.source_checks import check_never_raises

NATIVE: dict[str, Any] = {
    "event": {"name": "Queue backlog over 10k", "id": 99123456789012345678, "level": "SEV1", "state": "done"},
    "tags": {"service": "billing", "ns": "payments", "owner": "team-a"},
    "items": [{"pod": "billing-7d9f-x2"}],
    "detail": "backlog grew for 15 minutes",
    "at": "2026-11-28T10:00:00Z",
}

MAPPING = WebhookMapping.model_validate(
    {
        "fields": {
            "title": "event.name",
            "description": "detail",
            "service": "tags.service",
            "namespace": "tags.ns",
            "pod": "items.0.pod",
            "fingerprint": "event.id",
            "labels": "tags",
            "started_at": "at",
            "severity": {"path": "event.level", "values": {"sev1": "critical", "sev2": "high"}, "default": "low"},
            "status": {"path": ["event.state", "state"], "values": {"open": "firing", "done": "resolved"}},
        }
    }
)


@pytest.fixture
def source() -> MappedWebhookSource:
    return MappedWebhookSource(MAPPING)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("event.name", "Queue backlog over 10k"),
        ("items.0.pod", "billing-7d9f-x2"),
        ("items.-1.pod", "billing-7d9f-x2"),
        ("items.5.pod", None),
        ("event.name.deeper", None),
        ("missing.key", None),
        ("tags", NATIVE["tags"]),
    ],
)
def test_lookup_dotted_paths(path: str, expected: Any) -> None:
    assert lookup(NATIVE, path) == expected


def test_mapped_normalize_field_by_field(source: MappedWebhookSource) -> None:
    alert = source.normalize(NATIVE)
    assert alert.source == "webhook"
    assert alert.title == "Queue backlog over 10k"
    assert alert.description == "backlog grew for 15 minutes"
    assert alert.service == "billing"
    assert alert.namespace == "payments"
    assert alert.pod == "billing-7d9f-x2"
    assert alert.severity is Severity.critical
    assert alert.lifecycle is Lifecycle.resolved
    assert alert.fingerprint == "99123456789012345678"  # a big integer keeps every digit
    assert alert.labels["owner"] == "team-a"
    assert alert.started_at is not None
    assert alert.started_at.hour == 10


def test_value_table_default_and_unmapped_value(source: MappedWebhookSource) -> None:
    body = {**NATIVE, "event": {**NATIVE["event"], "level": "sev9"}}
    assert source.normalize(body).severity is Severity.low  # default for values outside the table
    no_level = {**NATIVE, "event": {"name": "x", "state": "open"}}
    assert source.normalize(no_level).severity is Severity.low
    assert source.lifecycle(no_level) is Lifecycle.firing


def test_stream_key_comes_from_the_mapped_fingerprint(source: MappedWebhookSource) -> None:
    assert source.stream_key(NATIVE) == "webhook:99123456789012345678"
    firing = {**NATIVE, "event": {**NATIVE["event"], "state": "open"}}
    assert source.stream_key(firing) == source.stream_key(NATIVE)


def test_unmapped_fields_fall_back_to_generic_rules() -> None:
    partial = MappedWebhookSource(WebhookMapping.model_validate({"fields": {"title": "event.name"}}))
    alert = partial.normalize({"event": {"name": "Disk full"}, "severity": "warning", "service": "db"})
    assert (alert.title, alert.severity, alert.service) == ("Disk full", Severity.medium, "db")


def test_missing_title_names_the_mapped_path(source: MappedWebhookSource) -> None:
    with pytest.raises(NormalizationError, match=r"event\.name"):
        source.normalize({"tags": {"service": "billing"}})


def test_alerts_path_splits_a_batch() -> None:
    batch = MappedWebhookSource(WebhookMapping.model_validate({"alerts": "data.events", "fields": {"title": "n"}}))
    assert batch.split({"data": {"events": [{"n": "a"}, {"n": "b"}]}}) == [{"n": "a"}, {"n": "b"}]
    assert batch.split({"n": "single"}) == [{"n": "single"}]


def test_mapping_validation_refuses_unknown_fields_and_values() -> None:
    with pytest.raises(ValidationError, match="unknown alert field"):
        WebhookMapping.model_validate({"fields": {"tittle": "event.name"}})
    with pytest.raises(ValidationError, match="severity values must be one of"):
        WebhookMapping.model_validate({"fields": {"severity": {"path": "x", "values": {"1": "urgent"}}}})
    with pytest.raises(ValidationError, match="status values must be one of"):
        WebhookMapping.model_validate({"fields": {"status": {"path": "x", "default": "closed"}}})


def test_source_for_applies_the_mapping_only_to_the_generic_source() -> None:
    registry = default_registry()
    mapped = WorkspaceConfig(name="acme", webhook_mapping=MAPPING)
    plain = WorkspaceConfig(name="plain")
    assert isinstance(source_for(registry, "webhook", mapped), MappedWebhookSource)
    assert not isinstance(source_for(registry, "webhook", plain), MappedWebhookSource)
    assert source_for(registry, "alertmanager", mapped).slug == "alertmanager"


# --- property: the mapped source raises nothing but NormalizationError ---------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)
_edgy = _json | st.sampled_from(["SEV1", "sev2", "done", "open", "", " ", "2026-11-28T10:00:00Z", 10**30])
_native = st.fixed_dictionaries(
    {},
    optional={
        "event": st.fixed_dictionaries({}, optional=dict.fromkeys(("name", "id", "level", "state"), _edgy)) | _json,
        "tags": st.dictionaries(st.sampled_from(["service", "ns", "owner"]) | st.text(max_size=5), _edgy) | _json,
        "items": st.lists(st.fixed_dictionaries({}, optional={"pod": _edgy}) | _json, max_size=3),
        "detail": _edgy,
        "at": _edgy,
        "state": _edgy,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_native | _json | st.lists(_native, max_size=3))
def test_mapped_source_never_raises_unexpected_errors(payload: Any) -> None:
    source = MappedWebhookSource(MAPPING)
    batch = MappedWebhookSource(WebhookMapping.model_validate({"alerts": "items", "fields": MAPPING.fields}))
    for src in (source, batch):
        check_never_raises(src, payload)
