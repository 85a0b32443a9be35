"""SQLAlchemy ORM tables. Every change here needs an Alembic migration in migrations/versions/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("uq_incidents_run", "workflow_id", "run_id", unique=True),
        Index("ix_incidents_stream", "workspace", "stream_key", "id"),
        Index("ix_incidents_list", "workspace", "status", "id"),
        Index("ix_incidents_parent", "parent_incident_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64))
    stream_key: Mapped[str] = mapped_column(String(255))
    workflow_id: Mapped[str] = mapped_column(String(400))
    run_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(String(255), index=True)
    namespace: Mapped[str | None] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str | None] = mapped_column(String(255))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    links: Mapped[dict[str, Any]] = mapped_column(default=dict)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime]
    # When the monitoring tool says the problem began (e.g. Alertmanager startsAt); may precede opened_at.
    started_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(255))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    resolution_reason: Mapped[str] = mapped_column(Text, default="")
    previous_incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    # Grouping: a related incident (same service/namespace, close in time) hangs off the first one.
    parent_incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    postmortem_md: Mapped[str | None] = mapped_column(Text)
    postmortem_at: Mapped[datetime | None]


class StreamAliasRow(Base):
    """A stream key deduplicated into another stream's incident; the gateway routes it there while open."""

    __tablename__ = "stream_aliases"
    __table_args__ = (
        Index("ix_stream_aliases_lookup", "workspace", "stream_key", "incident_id", unique=True),
        Index("ix_stream_aliases_incident", "incident_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64))
    stream_key: Mapped[str] = mapped_column(String(255))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    source: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str | None] = mapped_column(String(255))
    strategy: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class DeployEventRow(Base):
    """A deployment of a service, for correlating incidents with recent changes."""

    __tablename__ = "deploy_events"
    __table_args__ = (
        Index("ix_deploy_events_service", "workspace", "service", "deployed_at"),
        Index("uq_deploy_events_external", "workspace", "origin", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(255))
    namespace: Mapped[str | None] = mapped_column(String(255))
    environment: Mapped[str | None] = mapped_column(String(255))
    commit: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="success")
    url: Mapped[str | None] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(32))
    # A sender's retry of the same deployment (GitHub's deployment_status id) is stored once.
    external_id: Mapped[str | None] = mapped_column(String(255))
    deployed_at: Mapped[datetime]
    received_at: Mapped[datetime]


class AlertRow(Base):
    """Every delivery: stored by the gateway before Temporal hears of it, normalized by the workflow."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_incident", "incident_id", "id"),
        Index("ix_alerts_stream", "workspace", "stream_key", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    stream_key: Mapped[str] = mapped_column(String(255))
    lifecycle: Mapped[str] = mapped_column(String(16))
    # received -> signalled (Temporal acknowledged it) | unsignalled (Temporal refused; sender told 503)
    state: Mapped[str] = mapped_column(String(16), default="received")
    raw: Mapped[Any] = mapped_column(JSON)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    normalized: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    received_at: Mapped[datetime]


class TimelineEventRow(Base):
    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_incident", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ActionLogRow(Base):
    """Intent and outcome of every action; the idempotency key makes execution exactly-once."""

    __tablename__ = "action_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    action_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(500), unique=True)
    action: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # proposed -> denied | dry_run | pending_approval -> approved | rejected | expired
    #          -> executing -> succeeded | already_applied | failed | rolled_back
    status: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(64), default="default")
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the policy decision with every rule's vote
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the dry-run diff and the state before
    dry_run: Mapped[bool] = mapped_column(default=True)
    requested_by: Mapped[str | None] = mapped_column(String(255))
    approved_by: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IncidentMetricsRow(Base):
    __tablename__ = "incident_metrics"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str | None] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(16))
    alert_count: Mapped[int] = mapped_column(Integer)
    seconds_to_acknowledge: Mapped[int | None] = mapped_column(Integer)
    seconds_to_resolve: Mapped[int | None] = mapped_column(Integer)
    computed_at: Mapped[datetime]


class DiagnosisRow(Base):
    """One diagnosis of an incident: the answer, and the transcript (tool calls and outputs) behind it."""

    __tablename__ = "diagnoses"
    __table_args__ = (Index("ix_diagnoses_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    workspace: Mapped[str] = mapped_column(String(64))
    # workflow id + run id + request number: a retried activity finds its row instead of adding one.
    request_key: Mapped[str] = mapped_column(String(500), unique=True)
    model: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text)
    root_cause: Mapped[str] = mapped_column(Text)
    diagnosis: Mapped[dict[str, Any]] = mapped_column(JSON)
    transcript: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"turns": [...], "recorded": [...]}
    tool_calls: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    stopped_by_budget: Mapped[bool] = mapped_column(default=False)
    requested_by: Mapped[str] = mapped_column(String(255))
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class DeadLetterRow(Base):
    """A body that parsed but could not be normalized, kept raw with the reason for redrive."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), unique=True)
    raw: Mapped[Any] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    redriven_at: Mapped[datetime | None]
    # The new delivery a redrive created (the dead letter itself is kept for the audit trail).
    redrive_delivery_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))


class NotificationLogRow(Base):
    """One event sent (or held, or failed) to one channel; unique per (scope, key, channel): never twice."""

    __tablename__ = "notification_log"
    __table_args__ = (
        Index("uq_notification_log_delivery", "scope", "key", "channel", unique=True),
        Index("ix_notification_log_workspace", "workspace", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(100))  # incident:<id> or digest:<workspace>
    workspace: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(100))
    # sending -> sent | failed ; held (quiet hours) ; skipped (not applicable)
    status: Mapped[str] = mapped_column(String(16))
    ref: Mapped[dict[str, Any]] = mapped_column(default=dict)  # DeliveryRef (Slack channel + ts ...)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiKeyRow(Base):
    """An API key: only its HMAC-SHA256 under the server secret is stored; `key_id` (public) finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    workspace: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer, operator, admin, or the ingest scope
    name: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))  # hex HMAC-SHA256(server secret, whole key)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
