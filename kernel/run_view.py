"""What run-level hooks see of a run in progress (``sdk.RunView``), as a mixin of ``Run``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator_blocks.sdk import RunContext, Settings
from orchestrator_blocks.sdk.services import Services

if TYPE_CHECKING:
    from .durable import Lease
    from .workflow import Plan

__all__ = ["RunViewMixin"]


class RunViewMixin:
    """The read-only face of a run: ids, the workflow's traits and source, the attempt."""

    plan: Plan
    ctx: RunContext
    services: Services
    lease: Lease | None

    @property
    def workflow_id(self) -> str:
        return self.plan.workflow_id

    @property
    def parent_run_id(self) -> str | None:
        return self.ctx.parent_run_id

    @property
    def source(self) -> str | None:
        return self.plan.source

    @property
    def traits(self) -> Mapping[str, Any]:
        return self.plan.traits

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def run_attempt(self) -> int:
        return self.lease.attempt if self.lease is not None else 1

    @property
    def previous_owner(self) -> str | None:
        return self.lease.claim.previous_owner if self.lease is not None else None
