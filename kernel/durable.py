"""Durable runs, the kernel's side of ``sdk.durable``: a lease on the run, and checkpoints.

:meth:`Lease.open` asks the run store to open (or take over) the run; :meth:`Lease.watch`
renews the lease every third of its length and cancels the run when it is lost (another
process took the run over) or when someone asked to cancel it; :meth:`Lease.save` records a
block's terminal outcome (see ``sdk.durable`` for when it is committed); :meth:`Lease.close`
records where the pass ended and releases the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Mapping
from typing import Any

from orchestrator_blocks.sdk import ErrorEnvelope, Settings
from orchestrator_blocks.sdk._executor import Outcome
from orchestrator_blocks.sdk.durable import (
    Checkpoint,
    RunClaim,
    RunRecord,
    RunStore,
    decode_value,
    encode_value,
)

__all__ = ["DEFAULT_LEASE_S", "Lease", "hand_back_all", "lease_seconds", "owner_id"]

DEFAULT_LEASE_S = 30.0
_owner: tuple[int, str] | None = None
_watched: dict[Lease, asyncio.Task[Any]] = {}


def hand_back_all() -> int:
    """Stop every run this process holds without ending them (a worker shutting down): each
    is released at once for another process to continue. Returns how many."""
    for lease, task in list(_watched.items()):
        lease.stop_reason = "handback"
        task.cancel()
    return len(_watched)


def owner_id() -> str:
    """This process as a run owner: ``host:pid:random`` (new after a fork)."""
    global _owner
    if _owner is None or _owner[0] != os.getpid():
        _owner = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}")
    return _owner[1]


def lease_seconds(settings: Settings) -> float:
    """``ORCHESTRATOR_BLOCKS_LEASE_S`` (default 30 s)."""
    raw = settings.get("LEASE_S")
    try:
        value = float(raw) if raw else DEFAULT_LEASE_S
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"ORCHESTRATOR_BLOCKS_LEASE_S must be seconds > 0, got {raw!r}")
    return value


class Lease:
    """The kernel's hold on one root run in the run store."""

    def __init__(self, store: RunStore, record: RunRecord, claim: RunClaim) -> None:
        self.store = store
        self.record = record
        self.claim = claim
        self.stop_reason: str | None = None
        self._watcher: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, store: RunStore, record: RunRecord) -> Lease:
        return cls(store, record, await store.open_run(record))

    @property
    def attempt(self) -> int:
        return self.claim.attempt

    async def restored(self) -> dict[str, Checkpoint]:
        """What this pass reuses: every checkpoint of the attempt it continues, or the
        successful ones of the attempt it retries (saved again under the new attempt)."""
        run_id, claim = self.record.run_id, self.claim
        if claim.reuse_attempt is None:
            if self.record.mode == "new":
                return {}
            found = await self.store.load_checkpoints(run_id, claim.attempt)
            return {cp.key: cp for cp in found}
        kept = [
            cp
            for cp in await self.store.load_checkpoints(run_id, claim.reuse_attempt)
            if cp.status == "succeeded"
        ]
        for cp in kept:
            await self.store.save_checkpoint(run_id, claim.attempt, cp)
        return {cp.key: cp for cp in kept}

    async def save(self, key: str, outcome: Outcome, partial: bool, *, wait: bool) -> None:
        """Checkpoint a block (committed on return when ``wait``; see ``sdk.durable``)."""
        status = "failed" if outcome.error else ("partial" if partial else "succeeded")
        checkpoint = Checkpoint(
            key=key,
            status=status,  # type: ignore[arg-type]
            output=encode_value(outcome.value),
            attempts=outcome.attempts,
            error=outcome.error.to_dict() if outcome.error else None,
        )
        await self.store.save_checkpoint(
            self.record.run_id, self.claim.attempt, checkpoint, wait=wait
        )

    def watch(self, task: asyncio.Task[Any]) -> None:
        """Renew the lease while ``task`` runs; cancel it when the lease is lost or a
        cancel was requested (``stop_reason`` says which)."""
        self._watcher = asyncio.create_task(self._beat(task), name="lease")
        _watched[self] = task

    async def _beat(self, task: asyncio.Task[Any]) -> None:
        every = self.record.lease_s / 3
        last_ok = time.monotonic()
        while not task.done():
            await asyncio.sleep(every)
            try:
                answer = await self.store.heartbeat(
                    self.record.run_id, self.record.owner, self.record.lease_s
                )
            except Exception:  # a store hiccup: keep trying until the lease runs out
                answer = "lost" if time.monotonic() - last_ok >= self.record.lease_s else "ok"
            else:
                last_ok = time.monotonic() if answer == "ok" else last_ok
            if answer != "ok" and not task.done():
                self.stop_reason = answer
                task.cancel()
                return

    async def close(self, status: str, waiting_on: Mapping[str, Any], error: Any) -> None:
        _watched.pop(self, None)
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.stop_reason == "lost":
            return  # the run belongs to another process now
        await self.store.close_run(
            self.record.run_id,
            self.record.owner,
            status,
            waiting_on=waiting_on,
            error=error.to_dict() if isinstance(error, ErrorEnvelope) else None,
        )


def restored_outcome(checkpoint: Checkpoint) -> Outcome:
    """The stored outcome of a checkpointed block, as if it had just run."""
    error = ErrorEnvelope.from_dict(checkpoint.error) if checkpoint.error else None
    return Outcome(decode_value(checkpoint.output), error, checkpoint.attempts)
