"""Run ids: sortable by creation time, unique without coordination (ULID layout)."""

from __future__ import annotations

import random
import time
from base64 import b32encode

__all__ = ["new_run_id"]

_RFC4648, _CROCKFORD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = bytes.maketrans(_RFC4648, _CROCKFORD)


def new_run_id() -> str:
    """26 Crockford base-32 characters: 48 bits of milliseconds, then 80 random bits (the
    ``random`` module's generator: seeded from the OS, reseeded in a forked child)."""
    value = (int(time.time() * 1000) << 80) | random.getrandbits(80)  # 128 of 160 bits
    return b32encode(value.to_bytes(20, "big"))[6:].translate(_TO_CROCKFORD).decode()
