"""Counting a fan-out's outcomes and showing its progress.

Only counts are kept (never a per-item record), so memory stays flat however many items
run. ``fan_out.progress`` is logged about every 5 % and at the end; it is logged outside the
per-item context, so it lands in the run's event list while per-item events do not.
"""

from __future__ import annotations

import sys
from typing import Any

from orchestrator_blocks import sdk

__all__ = ["OUTCOMES", "Tally", "show_progress"]

OUTCOMES = ("sent", "failed", "skipped", "unknown", "rejected")
_STEPS = 20  # one progress event per 5 %


def show_progress(progress: bool | None) -> bool:
    """``True``/``False`` as given; ``None``: only when stderr is a terminal."""
    if progress is not None:
        return progress
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Bar:
    """A rich progress bar on stderr (imported only when one is shown)."""

    def __init__(self, title: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sent {task.fields[sent]} · failed {task.fields[failed]}"),
            TextColumn("· skipped {task.fields[skipped]} · unknown {task.fields[unknown]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task(
            title, total=total, sent=0, failed=0, skipped=0, unknown=0
        )
        self._progress.start()

    def update(self, counts: dict[str, int]) -> None:
        fields: dict[str, Any] = {k: v for k, v in counts.items() if k in OUTCOMES}
        self._progress.update(self._task, advance=1, **fields)

    def close(self) -> None:
        self._progress.stop()


class Tally:
    """The counts of one fan-out: ``total``, ``sent``, ``failed``, ``skipped``, ``unknown``,
    ``rejected``, ``not_started`` (filled in by :meth:`finish`), and ``awaiting_review``
    (items whose review waits; the fan-out pauses on them)."""

    def __init__(self, ctx: sdk.RunContext, total: int, *, bar: bool) -> None:
        self._ctx = ctx
        self.counts: dict[str, int] = {"total": total, **dict.fromkeys(OUTCOMES, 0)}
        self.counts["not_started"] = 0
        self.counts["awaiting_review"] = 0
        self.done = 0
        self._step = max(1, -(-total // _STEPS))
        self._next = self._step
        self._bar = _Bar(f"{ctx.block_id or 'for_each'}", total) if bar and total else None

    def restore(self, outcome: str) -> None:
        """An item an earlier pass finished (counted, not logged as progress)."""
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        self.done += 1

    def record(self, outcome: str) -> None:
        self.counts[outcome] += 1
        self.done += 1
        if self._bar is not None:
            self._bar.update(self.counts)
        if self.done >= self._next and self.done < self.counts["total"]:
            self._next += self._step
            self._log(final=False)

    def finish(self) -> dict[str, int]:
        self.counts["not_started"] += self.counts["total"] - self.done
        self._log(final=True)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        return dict(self.counts)

    def close(self) -> None:
        """Stop the bar on an abnormal exit (cancellation), without a final event."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _log(self, *, final: bool) -> None:
        fields: dict[str, Any] = {k: self.counts[k] for k in ("total", *OUTCOMES)}
        if final:
            fields["not_started"] = self.counts["not_started"]
        self._ctx.log.info("fan_out.progress", done=self.done, final=final, **fields)
