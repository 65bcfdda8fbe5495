"""The durable-run protocol: what the kernel asks of the store ``provide_run_store`` gives.

A root run is durable when a run store is present (always, on the embedded default):

1. :meth:`RunStore.open_run` writes (or takes over) the run's row and makes the caller its
   owner under a lease; it refuses a run another live owner holds (:class:`RunOwned`) and a
   workflow whose file changed since the run started (:class:`RunRefused`).
2. The owner renews the lease with :meth:`RunStore.heartbeat`; losing it (another process
   took the run over after the lease expired) or a cancel request stops the run.
3. Every block's terminal outcome is saved with :meth:`RunStore.save_checkpoint`; a
   continued run skips checkpointed blocks and feeds their outputs on. The checkpoint of a
   block that writes (``PlannedBlock.writes``) is committed before its successors start,
   and every earlier checkpoint before it starts (:meth:`RunStore.flush`). Checkpoints of
   blocks that change nothing outside the run may be committed a little later
   (``wait=False``): a crash can only make such a block run again.
4. :meth:`RunStore.close_run` records where the pass ended and releases the lease.

Modes: ``new`` (a fresh run), ``continue`` (the same attempt, after a pause or a crash:
every checkpoint is reused), ``retry`` (a new attempt of a failed or partial run: only
successful checkpoints are reused, everything that failed runs again).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .errors import StateStoreError
from .values import Bytes, Empty, Json, Text, Value, to_jsonable

__all__ = [
    "Checkpoint",
    "Heartbeat",
    "RunClaim",
    "RunMode",
    "RunOwned",
    "RunRecord",
    "RunRefused",
    "RunStore",
    "decode_value",
    "encode_value",
]

RunMode = Literal["new", "continue", "retry"]
Heartbeat = Literal["ok", "lost", "cancel"]


class RunOwned(StateStoreError):
    """Another live process owns the run (its lease has not expired): wait, or try later."""

    code = "runtime.run_owned"


class RunRefused(StateStoreError):
    """The run cannot be opened as asked (unknown run, wrong state, changed workflow)."""

    code = "runtime.run_refused"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What the kernel opens a run with."""

    run_id: str
    workflow_id: str
    source: str | None
    """The file the workflow was loaded from (``None``: built in code, not reloadable)."""
    source_hash: str | None
    input: Any
    owner: str
    lease_s: float
    mode: RunMode = "new"


@dataclass(frozen=True, slots=True)
class RunClaim:
    """What the store answers: the attempt this pass belongs to, and whose run it was."""

    attempt: int
    input: Any
    previous_owner: str | None = None
    """Set when the run was taken over from an owner whose lease expired (a crash)."""
    reuse_attempt: int | None = None
    """The attempt whose checkpoints this pass reuses (``retry``: the previous one)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A block's terminal outcome in one attempt of a run.

    ``key`` is the block id for the success path, ``"<handler>@<source>"`` for an
    ``on_error`` handler (or a block after it) started by ``source``'s failure. ``status``
    is ``succeeded``, ``failed`` or ``partial`` (succeeded for some items only; ``output``
    then holds the counts). ``output`` is :func:`encode_value`'s form; ``error`` an
    envelope's ``to_dict()``.
    """

    key: str
    status: Literal["succeeded", "failed", "partial"]
    output: Mapping[str, Any] | None
    attempts: int
    error: Mapping[str, Any] | None = None


class RunStore(Protocol):
    """The store of ``provide_run_store``, as the kernel uses it."""

    label: str

    async def open_run(self, record: RunRecord) -> RunClaim: ...

    async def heartbeat(self, run_id: str, owner: str, lease_s: float) -> Heartbeat: ...

    async def save_checkpoint(
        self, run_id: str, attempt: int, checkpoint: Checkpoint, *, wait: bool = True
    ) -> None:
        """Record a checkpoint; committed when this returns, unless not ``wait``: then it is
        committed within about 100 ms, and before any later ``flush`` returns."""
        ...

    async def flush(self) -> None:
        """Return once every checkpoint saved so far is committed."""
        ...

    async def load_checkpoints(self, run_id: str, attempt: int) -> list[Checkpoint]: ...

    async def close_run(
        self,
        run_id: str,
        owner: str,
        status: str,
        *,
        waiting_on: Mapping[str, Any],
        error: Mapping[str, Any] | None,
    ) -> None: ...


def encode_value(value: Value) -> dict[str, Any]:
    """A block output as JSON (bytes as base64), for a checkpoint."""
    if isinstance(value, Bytes):
        return {"kind": "bytes", "b64": base64.b64encode(value.payload).decode("ascii")}
    return {"kind": value.kind, "payload": to_jsonable(value.payload)}


def decode_value(data: Mapping[str, Any] | None) -> Value:
    """The inverse of :func:`encode_value`."""
    if not data:
        return Empty()
    kind = data.get("kind")
    if kind == "bytes":
        return Bytes(base64.b64decode(str(data.get("b64", ""))))
    if kind == "text":
        return Text(str(data.get("payload", "")))
    if kind == "json":
        return Json(data.get("payload"))
    return Empty()
