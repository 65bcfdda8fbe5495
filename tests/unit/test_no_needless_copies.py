"""A run's input is stored without being copied when nothing in it needs changing: a
100,000-recipient fan-out must not hold two or three copies of its input while it runs."""

from __future__ import annotations

from orchestrator_blocks.sdk.redaction import REDACTED, redact_value
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
