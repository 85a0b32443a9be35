"""Bad input gets a clear 4xx and loses nothing already accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select

from adapters.storage.orm import AlertRow
from tests.api.conftest import Harness
from tests.helpers import fixture_bytes, poll

FIRING = fixture_bytes("alertmanager/firing.json")


async def _stored(h: Harness) -> int:
    async with h.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(AlertRow)) or 0)


async def test_malformed_json_is_400_with_reason(harness: Harness) -> None:
    accepted = await harness.http.post("/webhook/alertmanager", content=FIRING)
    assert accepted.status_code == 202
    for body in (b"{not json", b"", b'{"a": NaN}', b"\xff\xfe"):
        response = await harness.http.post("/webhook", content=body)
        assert response.status_code == 400, body
        assert response.json()["detail"]
    assert await _stored(harness) == 1


async def test_body_over_limit_is_413(harness: Harness) -> None:
    limit = harness.settings.max_body_bytes
    response = await harness.http.post("/webhook", content=b'{"title": "' + b"x" * limit + b'"}')
    assert response.status_code == 413
    assert str(limit) in response.json()["detail"]
    assert await _stored(harness) == 0


async def test_body_over_limit_without_content_length_is_413(harness: Harness) -> None:
    limit = harness.settings.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = await harness.http.post("/webhook", content=chunks())
    assert response.status_code == 413
    assert await _stored(harness) == 0


async def test_unknown_source_is_404_listing_known_sources(harness: Harness) -> None:
    response = await harness.http.post("/webhook/nagios", content=b"{}")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "nagios" in detail
    for known in ("alertmanager", "prometheus", "webhook"):
        assert known in detail
    header = await harness.http.post("/webhook", content=b"{}", headers={"X-Source": "zabbix"})
    assert header.status_code == 404
    assert await _stored(harness) == 0


async def test_unknown_incident_is_404_and_bad_id_is_422(harness: Harness) -> None:
    assert (await harness.http.get("/incidents/999999")).status_code == 404
    assert (await harness.http.get("/incidents/abc")).status_code == 422
    assert (await harness.http.post("/incidents/999999/resolve")).status_code == 404
    assert (await harness.http.get("/incidents/999999/timeline")).status_code == 404


async def test_unnormalizable_body_is_dead_lettered_not_lost(harness: Harness) -> None:
    from adapters.storage.orm import DeadLetterRow
    from tests.helpers import poll

    response = await harness.http.post("/webhook", json={"no": "title here"})
    assert response.status_code == 202

    async def letters() -> list[DeadLetterRow]:
        async with harness.db.session() as session:
            return list((await session.execute(select(DeadLetterRow))).scalars())

    (letter,) = await poll(letters)
    assert letter.raw == {"no": "title here"}
    assert "title" in letter.reason
    assert (await harness.http.get("/incidents")).json()["total"] == 0


async def test_health_reports_both_dependencies(harness: Harness) -> None:
    async def polled() -> dict[str, Any] | None:
        body: dict[str, Any] = (await harness.http.get("/health")).json()
        return body if body["workers"] else None  # the harness's worker shows up once it polls

    body = await poll(polled)
    assert body == {
        "status": "ok",
        "database": {"ok": True, "detail": ""},
        "temporal": {"ok": True, "detail": ""},
        "workers": body["workers"],
    }
    assert body["workers"] >= 1
    assert (await harness.http.get("/health")).status_code == 200


async def test_lone_surrogate_escapes_are_replaced_not_fatal(harness: Harness) -> None:
    body = b'{"title": "disk \\ud800 full", "service": "db\\uDC00", "fingerprint": "sur-1"}'
    response = await harness.http.post("/webhook/webhook", content=body)
    assert response.status_code == 202, response.text
    incident = await poll(lambda: _first_incident(harness))
    assert incident["title"] == "disk \ufffd full"
    assert incident["service"] == "db\ufffd"


async def _first_incident(h: Harness) -> dict[str, Any] | None:
    page = (await h.http.get("/incidents")).json()
    return page["items"][0] if page["items"] else None
