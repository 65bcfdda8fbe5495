"""A run's input is stored without being copied when nothing in it needs changing: a
100,000-recipient fan-out must not hold two or three copies of its input while it runs, nor
a list of all its item keys to register the item rows, nor a repr of the input as it ends."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import sqlalchemy

import orchestrator_blocks as ob
from orchestrator_blocks.app.store import Store
from orchestrator_blocks.app.store.items import OPEN_BATCH
from orchestrator_blocks.plugins.fan_out.items import ItemKeys, read_items
from orchestrator_blocks.sdk import Json
from orchestrator_blocks.sdk.redaction import REDACTED, redact_value
from orchestrator_blocks.sdk.testing import make_context
from orchestrator_blocks.sdk.values import is_json_native, json_native


def test_plain_json_data_is_returned_as_is() -> None:
    data = {"recipients": [{"id": 1, "email": "a@example.org", "ok": True, "x": None}]}
    assert is_json_native(data)
    assert json_native(data) is data


def test_data_that_is_not_plain_json_is_converted() -> None:
    data = {"rows": (1, 2), 3: b"hi"}
    assert not is_json_native(data)
    assert json_native(data) == {"rows": [1, 2], "3": "hi"}
    assert data == {"rows": (1, 2), 3: b"hi"}  # the caller's object is left alone


def test_redaction_copies_only_what_it_masks() -> None:
    clean = {"items": [{"name": "a"}, {"name": "b"}], "n": 2}
    assert redact_value(clean) is clean
    assert redact_value(clean["items"]) is clean["items"]

    dirty = {"items": [{"name": "a"}, {"password": "hunter2"}], "n": 2}
    shown = redact_value(dirty)
    assert shown is not dirty
    assert shown["items"][1]["password"] == REDACTED
    assert shown["items"][0] is dirty["items"][0]  # the clean part is shared, not copied
    assert dirty["items"][1]["password"] == "hunter2"  # the original is never modified


class _CountedKeys(Sequence[str]):
    """Keys computed as they are read, counting how many were read (like a fan-out's
    ``ItemKeys``, which holds none of them)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.read = 0

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n))]
        if not 0 <= index < self.n:
            raise IndexError(index)
        self.read += 1
        return f"customer-{index}"


def test_item_rows_are_inserted_a_batch_at_a_time_as_the_keys_are_read(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    inserts: list[tuple[int, int]] = []  # (rows in the insert, keys read by then)
    keys = _CountedKeys(3 * OPEN_BATCH + 7)

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO FAN_OUT_ITEMS"):
            inserts.append((len(params) if many else 1, keys.read))

    sqlalchemy.event.listen(store.engine.engine, "before_cursor_execute", seen)
    assert store.items.open_items("run-1", "send", 1, keys) == {}
    assert [size for size, _ in inserts] == [OPEN_BATCH, OPEN_BATCH, OPEN_BATCH, 7]
    # Each batch went to the database before the next keys were read: no list of them all.
    assert [read for _, read in inserts] == [OPEN_BATCH, 2 * OPEN_BATCH, 3 * OPEN_BATCH, keys.n]
    assert store.items.item_counts("run-1", "send") == {"pending": keys.n}

    # A second pass (a continued run) registers nothing twice and says what had finished.
    store.items.finish_item("run-1", "send", "customer-3", "sent")
    inserts.clear()
    assert store.items.open_items("run-1", "send", 1, _CountedKeys(keys.n)) == {
        "customer-3": "sent"
    }
    assert inserts == []
    assert store.items.item_counts("run-1", "send") == {"pending": keys.n - 1, "sent": 1}


def test_a_fan_out_hands_its_keys_to_the_store_as_a_view_not_a_list(tmp_path: Path) -> None:
    recipients = [{"id": i, "email": f"c{i}@example.org"} for i in range(1200)]
    ctx, _ = make_context(home=tmp_path, workflow_id="notify", run_id="run-1")
    items = read_items(Json({"recipients": recipients}), ctx, over="recipients", item_key="id")
    assert items.items is recipients  # the input's list, not a copy
    keys = items.keys()
    assert isinstance(keys, ItemKeys) and not isinstance(keys, list)
    assert len(keys) == 1200 and keys[7] == "7" and list(keys[:3]) == ["0", "1", "2"]
    assert list(keys) == [str(i) for i in range(1200)]


def test_a_run_result_does_not_repeat_the_input_in_its_repr() -> None:
    # asyncio.run formats the main task (and so its result) as a run returns: a repr that
    # held a 100,000-item input built a string of megabytes, twice, at the end of the run.
    w = ob.new_workflow("echo")
    w.add(ob.Block.custom_transform(lambda data: len(data["recipients"])))
    recipients = [{"id": i, "email": f"person{i}@example.org"} for i in range(50)]
    result = w.run({"recipients": recipients})
    assert result.ok and result.input["recipients"] is recipients
    assert "person7@example.org" not in repr(result)
