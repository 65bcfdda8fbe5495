"""``RunResult``: what one run did, as the caller of ``Workflow.run`` sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from orchestrator_blocks.sdk import Empty, ErrorEnvelope, Json, RunStatus, Value

from .block import Block

__all__ = ["RunResult"]


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run: status, transitions, events, errors and block outputs."""

    workflow_id: str
    run_id: str
    status: RunStatus
    transitions: tuple[str, ...]
    recorded: tuple[bytes, ...] = field(repr=False)
    """This run's events as zlib-compressed blocks of JSON lines (``sdk._logfields``),
    decoded by :attr:`events`."""
    error: ErrorEnvelope | None
    errors: tuple[ErrorEnvelope, ...]
    started_at: str
    finished_at: str
    duration_ms: float
    parent_run_id: str | None = None
    values: Mapping[str, Value] = field(default_factory=dict)
    block_ids: Mapping[int, str] = field(default_factory=dict, repr=False)
    sinks: tuple[str, ...] = ()
    input: Any = field(default=None, repr=False)
    reports: Mapping[str, Any] = field(default_factory=dict)
    """What the ``run_finished`` hooks reported (``{"log_run": True, ...}``)."""
    waiting_on: Mapping[str, Any] = field(default_factory=dict)
    """What a paused run waits for (``{"ticket": 7}``); empty otherwise."""
    partial: tuple[Mapping[str, Any], ...] = ()
    """Per-block item counts when some items failed (the run is then ``partial``)."""

    @cached_property
    def events(self) -> tuple[dict[str, Any], ...]:
        """This run's events, as dicts (per-item events of a fan-out are in the log only)."""
        from orchestrator_blocks.sdk._logfields import decoded  # (structlog: not on --help)

        return tuple(decoded(self.recorded))

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    def _key(self, block: Block | str) -> str:
        if isinstance(block, Block):
            try:
                return self.block_ids[id(block)]
            except KeyError:
                msg = f"{block!r} is not a block of workflow {self.workflow_id!r}"
                raise KeyError(msg) from None
        return str(block)

    def value(self, block: Block | str) -> Value:
        """The output of ``block`` as a ``Value`` (``Empty`` if it did not run or failed)."""
        return self.values.get(self._key(block), Empty())

    def output(self, block: Block | str) -> Any:
        """The output payload of ``block``: ``None``, ``str``, JSON-like or ``bytes``."""
        return self.value(block).payload

    def ran(self, block: Block | str) -> bool:
        """Whether ``block`` produced an output in this run."""
        return self._key(block) in self.values

    def events_of(self, event: str) -> list[dict[str, Any]]:
        """This run's events of one type (``"block.retry_scheduled"``)."""
        return [e for e in self.events if e.get("event") == event]

    @property
    def final_value(self) -> Value:
        """The run's output: its single sink's output, or a ``Json`` list of several."""
        outs = [self.values[s] for s in self.sinks if s in self.values]
        if not outs:
            return Empty()
        if len(outs) == 1:
            return outs[0]
        return Json([v.payload for v in outs])

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (for the CLI and post actions)."""
        counts: dict[str, int] = {}
        from orchestrator_blocks.sdk._logfields import decoded

        for e in decoded(self.recorded):  # not kept decoded: a hook asks for this
            if e.get("run_id") != self.run_id:
                continue
            name = e.get("event")
            if name in ("block.succeeded", "block.skipped") or (
                name == "block.failed" and e.get("terminal")
            ):
                kind = str(name).split(".", 1)[1]
                counts[kind] = counts.get(kind, 0) + 1
        return {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "status": str(self.status),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
            "blocks": counts,
            "error": self.error.to_dict() if self.error else None,
            "errors": [e.code for e in self.errors],
        }
