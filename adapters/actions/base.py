"""The action provider interface: dry-run plan, idempotent apply, reconcile, verify, rollback.

Exactly-once (DESIGN.md §3): the execute activity records its intent in `action_logs` with the
idempotency key (workflow id + action id) before calling `apply`; `apply` marks the change with the key
on the provider side (an annotation on the Kubernetes object, a tag on the ECS service, the PR branch
name); a retry first calls `find`, and when the provider already shows the key it records success
without acting again.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from domain.actions import ActionOutcome, ActionPlan, CatalogAction, Verification


class ActionError(Exception):
    """A provider call failed. `retryable` says whether trying again can help (network, 5xx, 429);
    `retry_after` carries the vendor's Retry-After seconds when it sent one."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@runtime_checkable
class ActionProvider(Protocol):
    """One system the platform can change (Kubernetes, ECS, GitHub)."""

    slug: str
    kinds: frozenset[str]  # the catalog kinds it executes

    async def plan(self, action: CatalogAction, *, key: str) -> ActionPlan:
        """Dry run: what `apply` would change, as a diff. Never mutates anything."""
        ...

    async def find(self, action: CatalogAction, *, key: str) -> ActionOutcome | None:
        """Reconcile: the outcome if a change carrying `key` already exists on the provider, else None."""
        ...

    async def apply(self, action: CatalogAction, *, key: str) -> ActionOutcome:
        """Make the change, marked with `key` where the provider allows."""
        ...

    async def verify(self, action: CatalogAction, *, key: str) -> Verification:
        """Check the change took effect (pods ready, desired count reached, PR open)."""
        ...

    async def rollback(self, action: CatalogAction, *, key: str, plan: ActionPlan) -> ActionOutcome:
        """Undo a reversible action to the state `plan` recorded before it ran."""
        ...

    async def health(self) -> None:
        """Raise ActionError when the provider cannot be used (unreachable, unauthorized)."""
        ...
