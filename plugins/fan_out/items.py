"""What a fan-out iterates over, and what each item's run receives.

The input is a ``Json`` list of objects, or a ``Json`` mapping holding that list under
``over`` (a contract's context: ``{"inputs": {...}, "recipients": [...], ...}``). Every item
is checked before the first one starts, so bad data never leaves half a cohort notified.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from orchestrator_blocks import sdk

from .codes import INVALID_INPUT

__all__ = ["ItemKeys", "Items", "item_payload", "read_items"]

PROPOSAL_INPUT = "_proposal_id"


@dataclass(frozen=True, slots=True)
class Items:
    """The list to fan out over, the run's inputs, and the idempotency scope."""

    items: Sequence[Mapping[str, Any]]
    inputs: Mapping[str, Any]
    item_key: str
    prefix: str  # "<workflow_id>:<scope>:" (scope: the approved proposal, else the run)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(self.items)

    def key_of(self, item: Mapping[str, Any]) -> str:
        return str(item[self.item_key])

    def keys(self) -> ItemKeys:
        """The items' keys, computed as they are read (not a list of them all)."""
        return ItemKeys(self)


class ItemKeys(Sequence[str]):
    """The keys of :class:`Items` as a sequence that holds none of them: the store reads
    them a batch at a time to register a fan-out's item rows, so a 100,000-item fan-out
    does not build a list of 100,000 key strings (and the store a copy of it) first."""

    __slots__ = ("_items",)

    def __init__(self, items: Items) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self._items.key_of(item) for item in self._items.items[index]]
        return self._items.key_of(self._items.items[index])

    def __iter__(self) -> Iterator[str]:
        return map(self._items.key_of, self._items.items)


def _invalid(message: str, **details: Any) -> sdk.BlockError:
    return sdk.BlockError(INVALID_INPUT, message, details=details)


def _data(value: sdk.Value) -> Any:
    if isinstance(value, sdk.Json):
        return value.value
    if isinstance(value, sdk.Text | sdk.Bytes):
        try:
            return value.json()
        except ValueError as exc:
            raise _invalid(f"for_each expects a JSON list of items: {exc}") from None
    raise _invalid("for_each expects a JSON list of items, got nothing")


def read_items(value: sdk.Value, ctx: sdk.RunContext, *, over: str | None, item_key: str) -> Items:
    """Find and check the items (raises ``fan_out.invalid_input``)."""
    data = _data(value)
    inputs: Any = {}
    if isinstance(data, Mapping):
        if over is None:
            raise _invalid(
                "for_each got an object; say which of its keys holds the items with over=... "
                f"(keys: {', '.join(sorted(map(str, data))[:20])})"
            )
        if over not in data:
            raise _invalid(f"for_each: the input has no key {over!r}", present=sorted(data)[:20])
        inputs = data.get("inputs") or {}
        data = data[over]
    if not isinstance(data, list):
        where = f"input[{over!r}]" if over else "the input"
        raise _invalid(f"for_each expects a list of items; {where} is {type(data).__name__}")
    if not isinstance(inputs, Mapping):
        raise _invalid(f"for_each: input['inputs'] must be an object, not {type(inputs).__name__}")
    seen: set[str] = set()
    for i, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise _invalid(f"for_each: item {i} is {type(item).__name__}, not an object", index=i)
        if item.get(item_key) is None:
            raise _invalid(
                f"for_each: item {i} has no {item_key!r} (item_key names the field that "
                "identifies an item, e.g. the customer id)",
                index=i,
                present=sorted(item)[:20],
            )
        key = str(item[item_key])
        if key in seen:
            raise _invalid(
                f"for_each: two items have {item_key} {key!r}; each item needs its own key "
                "(it makes the item's idempotency key)",
                index=i,
                key=key,
            )
        seen.add(key)
    scope = inputs.get(PROPOSAL_INPUT)
    scope = ctx.run_id if scope is None else str(scope)
    return Items(data, inputs, item_key, f"{ctx.workflow_id}:{scope}:")


def item_payload(items: Items, item: Mapping[str, Any]) -> dict[str, Any]:
    """The per-item run's input: the item's fields at the top level (templates say
    ``{{email}}``), the item itself, the run's inputs, its key and its idempotency key."""
    key = items.key_of(item)
    return {
        **item,
        "item": item,
        "inputs": items.inputs,
        "item_key": key,
        "idempotency_key": items.prefix + key,
        # the workflow that fans out (the card's `related_workflow` in outbound_email_log)
        "related_workflow": items.prefix.split(":", 1)[0],
    }
