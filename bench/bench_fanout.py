"""Fan-out throughput and memory: ``for_each`` over N recipients, one JSON line per run.

Sinks: ``smtp`` (default) sends every email to an aiosmtpd server on 127.0.0.1 through
``send_email`` with an idempotency key (so each send is also claimed and recorded in the
SQLite store); ``outbox`` writes ``.eml`` files instead (the fast local sink); ``null`` runs
a per-item ``custom_transform`` that does nothing (the engine's own cost per item).
Each N runs in a fresh subprocess, so ``peak_rss_mb`` (``ru_maxrss``) belongs to that run
alone and runs of different sizes can be compared (flat memory: RSS must not grow with N
the way the input list does).

    python bench/bench_fanout.py                          # smtp, 10,000 recipients
    python bench/bench_fanout.py 2000 --sink outbox
    python bench/bench_fanout.py 10000 100000 --sink null --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


class _CountingHandler:
    """aiosmtpd handler that accepts and counts messages (nothing is kept)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.count += 1
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _per_item_workflow(sink: str) -> Any:
    import orchestrator_blocks as ob

    w = ob.new_workflow(f"bench_item_{sink}")
    if sink == "null":
        w.add(ob.Block.custom_transform(lambda item: None))
        return w
    build = ob.Block.custom_transform(
        lambda item: {
            "to": item["email"],
            "subject": "Bench",
            "text": f"Hello {item['name']}",
            "idempotency_key": item["idempotency_key"],
            "customer_id": item["item_key"],
        }
    )
    send = ob.Block.send_email().set_retry(0)
    w.link(build, send)
    return w


def run_once(n: int, sink: str, concurrency: int) -> dict[str, Any]:
    """Run one fan-out of ``n`` items in this process (environment already prepared)."""
    controller = handler = None
    if sink == "smtp":
        from aiosmtpd.controller import Controller

        handler = _CountingHandler()
        port = _free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        os.environ["ORCHESTRATOR_BLOCKS_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    import orchestrator_blocks as ob

    w = ob.new_workflow("bench_fanout")
    block = ob.Block.for_each(
        _per_item_workflow(sink), over="recipients", concurrency=concurrency, progress=False
    )
    w.add(block)
    recipients = [
        {"id": i, "email": f"c{i}@example.org", "name": f"Customer {i}"} for i in range(n)
    ]
    rss_before = _peak_rss_mb()
    t0 = time.perf_counter()
    r = w.run({"inputs": {}, "recipients": recipients})
    seconds = time.perf_counter() - t0
    if controller is not None:
        controller.stop()
    counts = r.output(block) if r.ran(block) else (r.error.details if r.error else {})
    return {
        "sink": sink,
        "items": n,
        "concurrency": concurrency,
        "status": str(r.status),
        "sent": counts.get("sent"),
        "failed": counts.get("failed"),
        "received": handler.count if handler is not None else None,
        "seconds": round(seconds, 2),
        "items_per_second": round(n / seconds, 1) if seconds else None,
        "peak_rss_mb_before_run": rss_before,
        "peak_rss_mb": _peak_rss_mb(),
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="*", type=int, default=[10_000], help="items per run")
    parser.add_argument("--sink", choices=("smtp", "outbox", "null"), default="smtp")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--inline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inline:
        print(json.dumps(run_once(args.n[0], args.sink, args.concurrency)), flush=True)
        return 0
    for n in args.n:
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as home:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("ORCHESTRATOR_BLOCKS_", "OTEL_"))
            }
            env.update(ORCHESTRATOR_BLOCKS_HOME=home, ORCHESTRATOR_BLOCKS_FILES_ROOT=home)
            cmd = [sys.executable, __file__, str(n), "--sink", args.sink, "--inline"]
            cmd += ["--concurrency", str(args.concurrency)]
            done = subprocess.run(cmd, env=env, check=False)
            if done.returncode:
                return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
