"""Fan-out throughput and memory: ``for_each`` over N items, each size in a fresh process.

Sinks: ``null`` (default: a per-item ``custom_transform`` that does nothing, so the time is
the engine's own cost per item: the item's child run, its events and span ids, its item
row in the store), ``outbox`` (``send_email`` writing ``.eml`` files) and ``smtp``
(``send_email`` to an aiosmtpd server on 127.0.0.1, with idempotency claims). Logs, spans
and durable item rows are on as shipped. Each N runs in a fresh subprocess, so
``peak_rss_mb`` (``ru_maxrss``) belongs to that run alone. With no arguments (what
``nox -s bench`` runs) it measures the null sink at 1,000, 10,000 and 100,000 items and
rewrites the "Fan-out (`for_each`)" section of bench/RESULTS.md; the SMTP pair (engine vs
a plain pooled aiosmtplib loop) is ``bench_smtp.py``.

    python bench/bench_fanout.py                          # null: 1,000 / 10,000 / 100,000
    python bench/bench_fanout.py 2000 --sink outbox
    python bench/bench_fanout.py 10000 --sink smtp --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_kernel import write_section


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
        "seconds": round(seconds, 4),
        "items_per_second": round(n / seconds, 1) if seconds else None,
        "peak_rss_mb_before_run": rss_before,
        "peak_rss_mb": _peak_rss_mb(),
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="*", type=int, help="items per run")
    parser.add_argument("--sink", choices=("smtp", "outbox", "null"), default="null")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--inline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    if args.inline:
        print(json.dumps(run_once(args.n[0], args.sink, args.concurrency)), flush=True)
        return 0
    sizes = args.n or [1_000, 10_000, 100_000]
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as home:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("ORCHESTRATOR_BLOCKS_", "OTEL_"))
            }
            env.update(ORCHESTRATOR_BLOCKS_HOME=home, ORCHESTRATOR_BLOCKS_FILES_ROOT=home)
            cmd = [sys.executable, __file__, str(n), "--sink", args.sink, "--inline"]
            cmd += ["--concurrency", str(args.concurrency)]
            done = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True)
            if done.returncode:
                print(done.stdout, done.stderr, file=sys.stderr)
                return done.returncode
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            rows.append(row)
    if not args.n and not args.no_write:
        write_section("Fan-out (`for_each`)", _table(rows, args.sink, args.concurrency))
    return 0


def _table(rows: list[dict[str, Any]], sink: str, concurrency: int) -> str:
    first = rows[0]["seconds"] / rows[0]["items"] * 1e6
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (shared with other work), "
        f"concurrency {concurrency}, {sink} per-item step, logs + span ids + durable item rows "
        "on as shipped; each size in its own subprocess (`python bench/bench_fanout.py`). "
        "Goals: ≤ 100 µs per item, the cost at 10,000 within 1.1x of that at "
        "1,000, and ≤ 150 MB peak RSS at 100,000.",
        "",
        "| items | µs per item | vs 1,000 items | items/s | peak RSS MB | RSS before the run MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        per_item = r["seconds"] / r["items"] * 1e6
        lines.append(
            f"| {r['items']:,} | {per_item:.0f} | {per_item / first:.2f}x | "
            f"{r['items_per_second']:,.0f} | {r['peak_rss_mb']:.1f} | "
            f"{r['peak_rss_mb_before_run']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
