"""``utc_now_iso``: the ``ts`` of every event and envelope (ISO 8601, UTC, milliseconds).

Its text is cached per millisecond and per second; these pin the text at the edges the
cache could get wrong (a new millisecond within the same second, a new second, a clock
that goes back) and the datetimes it is given.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

from orchestrator_blocks.sdk.services import utc_now_iso

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_a_utc_datetime_is_written_to_the_millisecond_truncated() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    assert utc_now_iso(at) == "2026-01-02T03:04:05.678Z"
    assert utc_now_iso(at.replace(microsecond=0)) == "2026-01-02T03:04:05.000Z"
    assert utc_now_iso(at.replace(microsecond=999)) == "2026-01-02T03:04:05.000Z"
    assert utc_now_iso(at.replace(microsecond=1_000)) == "2026-01-02T03:04:05.001Z"


def test_each_millisecond_and_second_gets_its_own_text_in_any_order() -> None:
    at = datetime(1999, 12, 31, 23, 59, 59, 998_000, tzinfo=UTC)
    seen = [utc_now_iso(at + timedelta(milliseconds=i)) for i in (0, 1, 2, 1, 0, 2, 3)]
    assert seen == [
        "1999-12-31T23:59:59.998Z",
        "1999-12-31T23:59:59.999Z",
        "2000-01-01T00:00:00.000Z",
        "1999-12-31T23:59:59.999Z",
        "1999-12-31T23:59:59.998Z",
        "2000-01-01T00:00:00.000Z",
        "2000-01-01T00:00:00.001Z",
    ]


def test_another_offset_keeps_its_offset_and_now_is_the_current_utc_time() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 6_000, tzinfo=timezone(timedelta(hours=2)))
    assert utc_now_iso(at) == "2026-01-02T03:04:05.006+02:00"
    before = time.time()
    now = utc_now_iso()
    after = time.time()
    assert TS.match(now), now
    parsed = datetime.fromisoformat(now.replace("Z", "+00:00")).timestamp()
    assert before - 0.001 <= parsed <= after
