"""What the alert-source tests share: vendor fixtures, the "other vendors' bodies are not ours" check,
hypothesis pieces (any JSON value, mutated fixtures) and the never-raise contract of a property test.

Each vendor's test module keeps its own, vendor-shaped strategies and assertions; only the scaffolding
that was the same in every module lives here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from adapters.alert_sources import GENERIC, default_registry
from adapters.alert_sources.base import MAX_STREAM_KEY, AlertSource
from domain.models import Alert, Lifecycle, NormalizationError
from tests.helpers import FIXTURES

# Fixture folders that hold no alert source's bodies (GitHub deployment events have their own endpoint).
NOT_ALERT_SOURCES = frozenset({"github"})
_REGISTRY = default_registry()


# --- fixtures -----------------------------------------------------------------------------------


def fixture_names(vendor: str, pattern: str = "*.json") -> list[str]:
    """The names of a vendor's fixtures (tests/fixtures/<vendor>/), sorted."""
    return sorted(p.name for p in (FIXTURES / vendor).glob(pattern))


def load_fixture(vendor: str, name: str) -> Any:
    """One fixture body, parsed."""
    return json.loads((FIXTURES / vendor / name).read_text(encoding="utf-8"))


def alert_vendors() -> list[str]:
    """Every fixture folder that holds an alert source's bodies."""
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name not in NOT_ALERT_SOURCES)


def detected_slugs(payload: Any, headers: Mapping[str, str]) -> list[str]:
    """The built-in sources that claim a body (never the generic fallback, which takes anything)."""
    return [source.slug for source in _REGISTRY.detect(payload, headers, fallback=GENERIC)]


def claimed_fixtures(source: AlertSource, headers: Mapping[str, str] | None = None) -> list[str]:
    """The fixtures of every other folder (github's too) that this source's detect claims: should be none."""
    others = sorted(p for p in FIXTURES.glob("*/*.json") if p.parent.name != source.slug)
    # The check proves nothing unless it really reads the other vendors' bodies.
    assert {p.parent.name for p in others} >= set(alert_vendors()) - {source.slug}
    return [
        str(p.relative_to(FIXTURES))
        for p in others
        if source.detect(json.loads(p.read_text(encoding="utf-8")), headers or {})
    ]


# --- hypothesis pieces --------------------------------------------------------------------------


def json_values(*, max_size: int = 4, max_leaves: int = 25) -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, unbounded ints, floats and any text, nested in lists and objects."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=max_size) | st.dictionaries(st.text(), children, max_size=max_size)
        ),
        max_leaves=max_leaves,
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside a JSON value (the root excluded)."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    out: list[tuple[Any, ...]] = []
    for key, child in children:
        out += [(*prefix, key), *_paths(child, (*prefix, key))]
    return out


@st.composite
def mutated_fixtures(draw: st.DrawFn, bodies: Sequence[Any], edgy: st.SearchStrategy[Any]) -> Any:
    """A real fixture with one to three locations replaced by an edgy value or deleted."""
    body = copy.deepcopy(draw(st.sampled_from(bodies)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(body)
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        target = body
        for step in parents:
            target = target[step]
        if isinstance(target, dict) and draw(st.booleans()):
            del target[last]
        else:
            target[last] = draw(edgy)
    return body


# --- the never-raise contract -------------------------------------------------------------------


def _normalize_or_reason(source: AlertSource, item: Any) -> Alert | str:
    try:
        return source.normalize(item)
    except NormalizationError as exc:
        return str(exc)


def check_never_raises(source: AlertSource, payload: Any, headers: Mapping[str, str] | None = None) -> list[Alert]:
    """Every method on one payload: only NormalizationError may escape, and results keep their promises.

    Returns the alerts the items normalized to, for the caller's vendor-specific assertions.
    """
    assert isinstance(source.detect(payload, headers or {}), bool)
    items = source.split(payload)
    assert isinstance(items, list)
    assert items  # an unexpected shape is still one item, dead-lettered later
    alerts: list[Alert] = []
    for item in items:
        lifecycle = source.lifecycle(item)
        assert isinstance(lifecycle, Lifecycle)
        key = source.stream_key(item)
        assert key.startswith(f"{source.slug}:"), key
        assert len(key) <= MAX_STREAM_KEY, key
        assert key == source.stream_key(copy.deepcopy(item))  # the same alert always reaches the same stream
        alert = _normalize_or_reason(source, item)
        if isinstance(alert, str):
            assert alert  # the dead letter's reason, for a human
            continue
        assert isinstance(alert, Alert)
        assert alert.source == source.slug
        assert alert.title
        assert alert.lifecycle is lifecycle
        alert.model_dump_json()  # storable: no lone surrogates left
        alerts.append(alert)
    return alerts
