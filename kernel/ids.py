"""Run ids: sortable by creation time, unique without coordination (ULID layout)."""

from __future__ import annotations

import random
import time

__all__ = ["new_run_id"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> 2 characters
_SHIFTS = tuple(range(120, -1, -10))


def new_run_id() -> str:
    """26 Crockford base-32 characters: 48 bits of milliseconds, then 80 random bits (the
    ``random`` module's generator: seeded from the OS, reseeded in a forked child)."""
    value = (int(time.time() * 1000) << 80) | random.getrandbits(80)
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])
