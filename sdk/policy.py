"""Reliability policy owned by a block (contract §5.4, §6.3, §6.4).

``retries`` counts attempts *after* the first. ``timeout_ms`` bounds each attempt
(``None``: no timeout; a child workflow's "infinite" is ``None`` too). Backoff delays are
deterministic for a given run: the jitter is drawn from a generator seeded with
``run_id + block_id + attempt``, so a replayed run waits exactly as long as the original.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

__all__ = ["DEFAULT_BACKOFF", "NO_POLICY", "Backoff", "Policy", "timeout_to_ms"]

BackoffKind = Literal["exponential", "fixed", "none"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before a retry.

    ``exponential``: ``base_ms * factor ** (attempt - 1)``; ``fixed``: ``base_ms``;
    ``none``: no wait. Then ± ``jitter`` (a fraction), then capped at ``cap_ms``.
    """

    kind: BackoffKind = "exponential"
    base_ms: int = 1_000
    factor: float = 2.0
    jitter: float = 0.2
    cap_ms: int = 30_000

    def __post_init__(self) -> None:
        if self.kind not in ("exponential", "fixed", "none"):
            raise ValueError(f"backoff kind must be exponential, fixed or none, got {self.kind!r}")
        if self.base_ms < 0 or self.cap_ms < 0:
            raise ValueError("backoff base_ms and cap_ms must be >= 0")
        if self.factor < 1.0:
            raise ValueError(f"backoff factor must be >= 1.0, got {self.factor}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"backoff jitter must be between 0 and 1, got {self.jitter}")

    @classmethod
    def exponential(
        cls, base_ms: int = 1_000, factor: float = 2.0, *, jitter: float = 0.2, cap_ms: int = 30_000
    ) -> Backoff:
        return cls("exponential", base_ms, factor, jitter, cap_ms)

    @classmethod
    def fixed(cls, delay_ms: int, *, jitter: float = 0.0) -> Backoff:
        return cls("fixed", delay_ms, 1.0, jitter, max(30_000, int(delay_ms * (1 + jitter)) + 1))

    @classmethod
    def none(cls) -> Backoff:
        return cls("none", 0, 1.0, 0.0, 0)

    def delay_ms(self, attempt: int, seed: str) -> int:
        """Delay before the attempt after ``attempt`` (1-based), deterministic for ``seed``."""
        if self.kind == "none":
            return 0
        if self.kind == "fixed":
            raw = float(self.base_ms)
        else:
            raw = self.base_ms * self.factor ** max(attempt - 1, 0)
        if self.jitter:
            raw *= 1.0 + random.Random(seed).uniform(-self.jitter, self.jitter)  # noqa: S311
        return int(min(max(raw, 0.0), float(self.cap_ms)))

    def describe(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "fixed":
            return f"fixed({self.base_ms}ms)"
        jitter = f"{self.jitter:.0%}"
        return f"exp({self.base_ms}ms, x{self.factor:g}, jitter {jitter}, cap {self.cap_ms}ms)"


DEFAULT_BACKOFF = Backoff.exponential(1_000, 2.0, jitter=0.2, cap_ms=30_000)


@dataclass(frozen=True, slots=True)
class Policy:
    """The effective reliability policy of a block."""

    retries: int = 0
    timeout_ms: int | None = None
    backoff: Backoff = DEFAULT_BACKOFF

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.timeout_ms is not None and self.timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be > 0 or None, got {self.timeout_ms}")

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def evolve(self, **changes: object) -> Policy:
        return replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        timeout = "none" if self.timeout_ms is None else f"{self.timeout_ms}ms"
        backoff = self.backoff.describe() if self.retries else "n/a"
        return f"timeout={timeout} retries={self.retries} backoff={backoff}"


NO_POLICY = Policy()


def timeout_to_ms(timeout: float | int | timedelta | None) -> int | None:
    """Seconds (or a timedelta) to whole milliseconds; ``None`` stays ``None``."""
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if seconds <= 0:
        raise ValueError(f"timeout must be > 0 seconds or None, got {timeout!r}")
    return max(1, round(seconds * 1000))
