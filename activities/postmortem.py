"""The postmortem activity: load the facts from SQL, render Markdown, store it."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.storage import repositories as repo
from adapters.storage.db import Database
from domain.models import (
    ActionEntry,
    GeneratePostmortemInput,
    PostmortemResult,
    Severity,
    TimelineEntry,
    TimelineKind,
)
from domain.postmortem import PostmortemFacts, render_postmortem


class PostmortemActivities:
    def __init__(self, *, db: Database) -> None:
        self._db = db

    @activity.defn(name="generate_postmortem")
    async def generate_postmortem(self, inp: GeneratePostmortemInput) -> PostmortemResult:
        """Write (or rewrite, on retry) the incident's postmortem; big text stays in SQL."""
        async with self._db.session() as session:
            incident = await repo.get_incident(session, incident_id=inp.incident_id)
            if incident is None:
                raise ApplicationError(f"incident {inp.incident_id} does not exist", non_retryable=True)
            counts, first, last = await repo.alert_stats(session, incident_id=incident.id)
            timeline = await repo.list_timeline(session, incident_id=incident.id)
            actions = await repo.list_actions(session, incident_id=incident.id)
            facts = PostmortemFacts(
                incident_id=incident.id,
                workspace=incident.workspace,
                title=incident.title,
                description=incident.description,
                service=incident.service,
                severity=Severity(incident.severity),
                source=incident.source,
                opened_at=incident.opened_at,
                started_at=incident.started_at,
                acknowledged_at=incident.acknowledged_at,
                resolved_at=incident.resolved_at,
                resolved_by=incident.resolved_by,
                resolution_reason=incident.resolution_reason,
                first_alert_at=first,
                last_alert_at=last,
                alerts_by_lifecycle=counts,
                previous_incident_id=incident.previous_incident_id,
                links={k: str(v) for k, v in incident.links.items()},
                timeline=[
                    TimelineEntry(at=e.at, kind=TimelineKind(e.kind), actor=e.actor, message=e.message, data=e.data)
                    for e in timeline
                ],
                actions=[
                    ActionEntry(
                        action=a.action,
                        status=a.status,
                        requested_by=a.requested_by,
                        approved_by=a.approved_by,
                        at=a.created_at,
                        dry_run=a.dry_run,
                    )
                    for a in actions
                ],
            )
            markdown = render_postmortem(facts)
            marker = "postmortem"
            if not await repo.timeline_has(
                session, incident_id=incident.id, kind=TimelineKind.postmortem_written, marker=marker
            ):
                await repo.add_timeline_event(
                    session,
                    incident_id=incident.id,
                    at=incident.resolved_at or incident.opened_at,
                    kind=TimelineKind.postmortem_written,
                    actor="aisre",
                    message="Postmortem written",
                    data={"marker": marker},
                )
            await repo.save_postmortem(
                session, incident=incident, markdown=markdown, at=incident.resolved_at or incident.opened_at
            )
            return PostmortemResult(incident_id=incident.id, characters=len(markdown))
