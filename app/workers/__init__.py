"""Beyond one machine: ``orchestrator-blocks worker`` processes on the store's PostgreSQL.

:mod:`.queue` (the Procrastinate app and its two tasks), :mod:`.executor` (``serve`` hands
runs over; a fan-out on a worker hands its items over), :mod:`.plugin` (the hooks). Imported
lazily: Procrastinate is an optional extra (``orchestrator-blocks[postgres]``).
"""
