"""The workflow graph and its block-first wiring API (spec §5.1–§5.3).

Endpoints of :meth:`Workflow.link` and :meth:`Workflow.on_error` may be

1. a ``Block`` reference (preferred): registered once, the same block reused by every link;
2. an inline ``Block`` expression: a fresh object, so it is registered for that link only;
3. a ``BlockId`` from :meth:`Workflow.add` (legacy), or its string.

In Python (1) and (2) are the same mechanism: a workflow registers each block *object* once.
An inline expression is simply an object nothing else refers to, hence one-shot.

Graph rules, checked at the call that would break them (so the error points at the line
that caused it) and again before a run:

* no cycles, over success and error edges together;
* no ``on_error`` from a block to itself;
* an id must belong to this workflow;
* a block is either on the *core path* (entries and their successors) or on an *error path*
  (``on_error`` handlers and what they link to), never both; an error-path block that is
  not a handler has exactly one predecessor.
"""

from __future__ import annotations

import asyncio
import graphlib
import itertools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from orchestrator_blocks.sdk import GraphInvalid, PlannedBlock
from orchestrator_blocks.sdk.durable import RunMode

from .block import EDITS, Block, BlockId

if TYPE_CHECKING:
    from .result import RunResult

__all__ = ["DEFAULT_ITERATION_BUDGET", "Plan", "Workflow", "new_workflow"]

DEFAULT_ITERATION_BUDGET = 1_000_000
_WORKFLOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_keys = itertools.count(1)

Endpoint = Block | BlockId | str


@dataclass(frozen=True, slots=True)
class Plan:
    """An immutable snapshot of a workflow graph, taken when a run starts."""

    workflow_id: str
    nodes: Mapping[str, PlannedBlock]
    succ: Mapping[str, tuple[str, ...]]
    pred: Mapping[str, tuple[str, ...]]
    handlers: Mapping[str, tuple[str, ...]]
    core: frozenset[str]
    entries: tuple[str, ...]
    sinks: tuple[str, ...]
    iteration_budget: int
    traits: Mapping[str, Any]
    source: str | None = None
    source_hash: str | None = None
    block_ids: Mapping[int, str] = field(default_factory=dict)  # id(Block) -> its id


class Workflow:
    """A graph of blocks linked on success and on error. Build with :func:`new_workflow`."""

    def __init__(self, workflow_id: str, *, iteration_budget: int = DEFAULT_ITERATION_BUDGET):
        if not isinstance(workflow_id, str) or not _WORKFLOW_ID.match(workflow_id):
            raise ValueError(
                "workflow id must start with a letter or digit and use only letters, digits, "
                f"'_', '.', ':' or '-' (at most 128 characters), got {workflow_id!r}"
            )
        self._id = workflow_id
        self._key = next(_keys)
        self._blocks: dict[BlockId, Block] = {}
        self._by_object: dict[int, BlockId] = {}
        self._succ: dict[BlockId, list[BlockId]] = {}
        self._pred: dict[BlockId, list[BlockId]] = {}
        self._handlers: dict[BlockId, list[BlockId]] = {}
        self._type_counts: Counter[str] = Counter()
        self._edits = 0
        self._plan: tuple[Any, Plan] | None = None
        self.traits: dict[str, Any] = {}
        """What features declare about this workflow beyond its graph (its description,
        its trigger, ...). The kernel carries it to every run and never reads it."""
        self.source: str | None = None
        """The file the workflow was loaded from (``None`` when built in code)."""
        self.source_hash: str | None = None
        """The SHA-256 of that file's content when it was loaded."""
        self.set_iteration_budget(iteration_budget)

    @property
    def id(self) -> str:
        return self._id

    @property
    def iteration_budget(self) -> int:
        return self._iteration_budget

    def set_iteration_budget(self, n: int) -> Workflow:
        """Bound the block executions (attempts included) of one run and its child runs."""
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"iteration budget must be a positive int, got {n!r}")
        self._iteration_budget = n
        self._edits += 1
        return self

    # -- registration ---------------------------------------------------------------------

    def add(self, block: Block) -> BlockId:
        """Register ``block`` (once; adding it again returns the same id)."""
        if not isinstance(block, Block):
            raise TypeError(f"Workflow.add expects a Block, got {type(block).__name__}")
        existing = self._by_object.get(id(block))
        if existing is not None:
            return existing
        if block.name is not None:
            if block.name in self._blocks:
                raise GraphInvalid(
                    f"workflow {self._id!r} already has a block named {block.name!r}; "
                    "give each block its own name"
                )
            raw = block.name
        else:
            while True:
                self._type_counts[block.type_id] += 1
                raw = f"{block.type_id}_{self._type_counts[block.type_id]}"
                if raw not in self._blocks:
                    break
        bid = BlockId(raw, self._key)
        self._blocks[bid] = block
        self._by_object[id(block)] = bid
        self._succ[bid] = []
        self._pred[bid] = []
        self._handlers[bid] = []
        self._edits += 1
        return bid

    def _resolve(self, endpoint: Endpoint, role: str) -> BlockId:
        if isinstance(endpoint, Block):
            return self.add(endpoint)
        if isinstance(endpoint, BlockId):
            if endpoint.workflow_key not in (0, self._key) or endpoint not in self._blocks:
                raise GraphInvalid(
                    f"{role} {str(endpoint)!r} is not a block of workflow {self._id!r} "
                    "(dangling id: add the block to this workflow first)"
                )
            return next(b for b in self._blocks if b == endpoint)
        if isinstance(endpoint, str):
            for bid in self._blocks:
                if bid == endpoint:
                    return bid
            raise GraphInvalid(
                f"{role} {endpoint!r} is not a block of workflow {self._id!r} (dangling id); "
                f"known ids: {', '.join(self._blocks) or '(none)'}"
            )
        raise TypeError(
            f"{role} must be a Block, a BlockId or a block id string, got {type(endpoint).__name__}"
        )

    def link(self, source: Endpoint, target: Endpoint) -> Workflow:
        """Run ``target`` after ``source`` succeeds, with ``source``'s output as its input."""
        src = self._resolve(source, "link source")
        dst = self._resolve(target, "link target")
        if src == dst:
            raise GraphInvalid(f"cannot link block {src!r} to itself")
        if dst in self._succ[src]:
            return self
        self._check_no_path(dst, src)
        self._succ[src].append(dst)
        self._pred[dst].append(src)
        self._edits += 1
        try:
            self._check_roles()
        except GraphInvalid:
            self._succ[src].remove(dst)
            self._pred[dst].remove(src)
            raise
        return self

    def on_error(self, source: Endpoint, handler: Endpoint) -> Workflow:
        """When ``source`` fails terminally, run ``handler`` with the error envelope.

        All handlers of one source start in parallel with the same envelope; a failing
        handler never cancels its siblings; the run stays ``failed`` (spec §7.7).
        """
        src = self._resolve(source, "on_error source")
        dst = self._resolve(handler, "on_error handler")
        if src == dst:
            raise GraphInvalid(f"block {src!r} cannot be its own on_error handler")
        if dst in self._handlers[src]:
            return self
        self._check_no_path(dst, src)
        self._handlers[src].append(dst)
        self._edits += 1
        try:
            self._check_roles()
        except GraphInvalid:
            self._handlers[src].remove(dst)
            raise
        return self

    link_on_error = on_error

    # -- inspection -----------------------------------------------------------------------

    @property
    def blocks(self) -> Mapping[BlockId, Block]:
        return MappingProxyType(self._blocks)

    def id_of(self, block: Block | BlockId | str) -> BlockId:
        """The id of a block of this workflow (raises ``KeyError`` otherwise)."""
        if isinstance(block, Block):
            bid = self._by_object.get(id(block))
            if bid is None:
                raise KeyError(f"{block!r} is not part of workflow {self._id!r}")
            return bid
        for bid in self._blocks:
            if bid == block:
                return bid
        raise KeyError(f"no block {str(block)!r} in workflow {self._id!r}")

    def edges(self) -> list[tuple[str, str, str]]:
        """``(source, target, kind)`` with kind ``success`` or ``error``, in wiring order."""
        out: list[tuple[str, str, str]] = [
            (s, t, "success") for s, ts in self._succ.items() for t in ts
        ]
        out += [(s, h, "error") for s, hs in self._handlers.items() for h in hs]
        return out

    def _error_path(self) -> set[BlockId]:
        handlers = {h for hs in self._handlers.values() for h in hs}
        seen = set(handlers)
        stack = list(handlers)
        while stack:
            for nxt in self._succ[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def _check_no_path(self, start: BlockId, goal: BlockId) -> None:
        """Before adding the edge ``goal -> start``: refuse it if it closes a cycle. A block
        with no outgoing edge cannot close one (the common case while building a graph)."""
        if self._next(start):
            self._check_acyclic(extra=(goal, start))

    def validate(self) -> None:
        """Raise :class:`GraphInvalid` if the graph cannot run."""
        self._check_acyclic()
        self._check_roles()

    def _check_roles(self) -> None:
        if not any(self._handlers.values()):
            return
        error_path = self._error_path()
        handlers = {h for hs in self._handlers.values() for h in hs}
        for bid in error_path:
            preds = self._pred[bid]
            core_preds = [p for p in preds if p not in error_path]
            if core_preds:
                what = "an on_error handler" if bid in handlers else "on an error path"
                raise GraphInvalid(
                    f"block {bid!r} is {what} and also linked after {core_preds[0]!r} on the "
                    "success path; use separate blocks for the two roles"
                )
            if bid in handlers and preds:
                raise GraphInvalid(
                    f"on_error handler {bid!r} cannot also be a link target (of {preds[0]!r})"
                )
            if bid not in handlers and len(preds) > 1:
                raise GraphInvalid(
                    f"block {bid!r} on an error path has several predecessors "
                    f"({', '.join(preds)}); join error paths inside a child workflow instead"
                )

    def _check_acyclic(self, extra: tuple[BlockId, BlockId] | None = None) -> None:
        """Raise :class:`GraphInvalid` naming a cycle over success and error edges (plus the
        proposed edge ``extra``), found by :mod:`graphlib`."""
        graph: dict[BlockId, list[BlockId]] = {b: self._next(b) for b in self._blocks}
        if extra is not None:
            graph[extra[0]] = [*graph[extra[0]], extra[1]]
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as exc:
            # graphlib lists the cycle against edge direction (node, its predecessor, ...).
            cycle = list(reversed(exc.args[1]))
            raise GraphInvalid(
                f"cycle in workflow {self._id!r}: {' -> '.join(map(str, cycle))}"
            ) from None

    def _next(self, bid: BlockId) -> list[BlockId]:
        return self._succ[bid] + self._handlers[bid]

    def plan(self) -> Plan:
        """Validate and snapshot the graph (policies are read now, not during the run). The
        snapshot is reused until the graph, a block, the traits or the source change."""
        key = (self._edits, EDITS[0], dict(self.traits), self.source, self.source_hash)
        if self._plan is not None and self._plan[0] == key:
            return self._plan[1]
        if not self._blocks:
            raise GraphInvalid(f"workflow {self._id!r} has no blocks")
        self.validate()
        error_path = self._error_path()
        ids = {b: str(b) for b in self._blocks}  # one string per id, shared by every table
        core = frozenset(ids[b] for b in self._blocks if b not in error_path)
        plan = Plan(
            workflow_id=self._id,
            nodes={
                ids[bid]: PlannedBlock(
                    ids[bid],
                    blk.block_type,
                    blk.config,
                    blk.policy,
                    blk.block_type.is_write(blk.config),
                )
                for bid, blk in self._blocks.items()
            },
            succ={ids[b]: tuple(map(ids.__getitem__, s)) for b, s in self._succ.items()},
            pred={ids[b]: tuple(map(ids.__getitem__, p)) for b, p in self._pred.items()},
            handlers={ids[b]: tuple(map(ids.__getitem__, h)) for b, h in self._handlers.items()},
            core=core,
            entries=tuple(ids[b] for b in self._blocks if ids[b] in core and not self._pred[b]),
            sinks=tuple(ids[b] for b in self._blocks if ids[b] in core and not self._succ[b]),
            iteration_budget=self._iteration_budget,
            traits=MappingProxyType(dict(self.traits)),
            source=self.source,
            source_hash=self.source_hash,
            block_ids=MappingProxyType({id(b): ids[i] for i, b in self._blocks.items()}),
        )
        self._plan = (key, plan)
        return plan

    # -- running --------------------------------------------------------------------------

    async def run_async(
        self,
        input: Any = None,
        *,
        timeout_ms: int | None = None,
        run_id: str | None = None,
        mode: RunMode = "new",
    ) -> RunResult:
        """Run the workflow once inside the current event loop and return its result."""
        from .runtime import run_workflow

        return await run_workflow(self, input, timeout_ms=timeout_ms, run_id=run_id, mode=mode)

    def run(
        self,
        input: Any = None,
        *,
        timeout_ms: int | None = None,
        run_id: str | None = None,
        mode: RunMode = "new",
    ) -> RunResult:
        """Run the workflow once and block until it ends.

        Entry blocks (no predecessors) receive ``input``. Past ``timeout_ms`` the run ends
        ``timed_out`` (code ``runtime.timeout``). ``mode="continue"`` goes on with the
        unfinished run ``run_id`` from its checkpoints; ``mode="retry"`` re-executes a
        failed or partial run from what failed (both with the run's stored input).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(
                self.run_async(input, timeout_ms=timeout_ms, run_id=run_id, mode=mode)
            )
        raise RuntimeError(
            "Workflow.run() cannot be called from a running event loop; "
            "use `await workflow.run_async(...)` instead"
        )

    def __repr__(self) -> str:
        return f"<Workflow {self._id!r} blocks={len(self._blocks)}>"


def new_workflow(workflow_id: str, *, iteration_budget: int = DEFAULT_ITERATION_BUDGET) -> Workflow:
    """Create an empty workflow (``ob.new_workflow("trial_activation_nudge")``)."""
    return Workflow(workflow_id, iteration_budget=iteration_budget)
