"""SMTP fan-out: the engine's ``for_each`` -> ``send_email`` against a plain aiosmtplib loop.

One aiosmtpd server runs in its own process on 127.0.0.1 and accepts every message. Three
interleaved rounds, each sending N emails (default 2,000) three ways to that same server:

* the engine: ``for_each`` (concurrency 16) over a per-item workflow building the envelope
  and ``send_email`` with an idempotency key (a claim row and a finish row per message in
  the SQLite store), logs and span ids on, durable runs on, as shipped;
* a plain asyncio loop keeping 16 aiosmtplib sessions open (the goal's baseline: the
  engine should reach at least 0.8x of it);
* a plain loop opening one connection per message, 16 at a time (for reference).

Emails/s are medians of the rounds; the ratio is taken per round (same server, same
minute). Rewrites the "SMTP fan-out" section of bench/RESULTS.md.

    python bench/bench_smtp.py [--emails 2000] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench_fanout import _free_port  # noqa: E402
from bench_kernel import write_section  # noqa: E402

SERVER = """
import sys, threading, time
from aiosmtpd.controller import Controller
class Handler:
    async def handle_DATA(self, server, session, envelope):
        return "250 Message accepted for delivery"
controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""


def _message(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "bench@example.org"
    msg["To"] = f"c{i}@example.org"
    msg["Subject"] = "Bench"
    msg.set_content(f"Hello Customer {i}")
    return msg


async def plain_pooled(port: int, n: int, sessions: int) -> float:
    """``sessions`` workers, each with one SMTP session open for all its messages."""
    import aiosmtplib

    queue = iter(range(n))

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        for i in queue:
            await smtp.send_message(_message(i))
        await smtp.quit()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(sessions)))
    return n / (time.perf_counter() - t0)


async def plain_per_message(port: int, n: int, concurrency: int) -> float:
    """One connection per message, ``concurrency`` at a time."""
    import aiosmtplib

    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await aiosmtplib.send(_message(i), hostname="127.0.0.1", port=port, start_tls=False)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0)


def engine(n: int, concurrency: int) -> float:
    import orchestrator_blocks as ob

    item = ob.new_workflow("bench_smtp_item")
    item.link(
        ob.Block.custom_transform(
            lambda i: {
                "to": i["email"],
                "subject": "Bench",
                "text": f"Hello {i['name']}",
                "idempotency_key": i["idempotency_key"],
                "customer_id": i["item_key"],
            }
        ),
        ob.Block.send_email().set_retry(0),
    )
    w = ob.new_workflow("bench_smtp")
    block = ob.Block.for_each(item, over="recipients", concurrency=concurrency, progress=False)
    w.add(block)
    people = [{"id": i, "email": f"c{i}@example.org", "name": f"Customer {i}"} for i in range(n)]
    t0 = time.perf_counter()
    result = w.run({"inputs": {}, "recipients": people})
    seconds = time.perf_counter() - t0
    assert result.ok and result.output(block)["sent"] == n, (result.status, result.error)
    return n / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    samples: dict[str, list[float]] = {"engine": [], "pooled": [], "per_message": []}
    ratios = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-smtp-") as home:
            for var in [v for v in os.environ if v.startswith(("OTEL_", "ORCHESTRATOR_BLOCKS_"))]:
                del os.environ[var]
            os.environ.update(
                ORCHESTRATOR_BLOCKS_HOME=home,
                ORCHESTRATOR_BLOCKS_FILES_ROOT=home,
                ORCHESTRATOR_BLOCKS_SMTP_URL=f"smtp://127.0.0.1:{port}?starttls=0",
            )
            for _ in range(args.rounds):
                samples["engine"].append(engine(args.emails, args.concurrency))
                samples["pooled"].append(
                    asyncio.run(plain_pooled(port, args.emails, args.concurrency))
                )
                samples["per_message"].append(
                    asyncio.run(plain_per_message(port, args.emails, args.concurrency))
                )
                ratios.append(samples["engine"][-1] / samples["pooled"][-1])
                print({k: round(v[-1], 1) for k, v in samples.items()}, flush=True)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    med = {k: statistics.median(v) for k, v in samples.items()}
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (shared with other work); "
        f"{args.emails:,} emails per round, {args.concurrency} in flight, aiosmtpd in its own "
        f"process on loopback, {args.rounds} interleaved rounds, medians "
        "(`python bench/bench_smtp.py`). Goal: the engine at ≥ 0.8x the plain "
        "loop that keeps its sessions open.",
        "",
        "| sender | emails/s | vs plain pooled loop |",
        "| --- | ---: | ---: |",
        f"| plain aiosmtplib loop, {args.concurrency} sessions kept open | "
        f"{med['pooled']:,.0f} | 1.00x |",
        f"| engine: `for_each` -> `send_email` (pooled sessions, idempotency claims) | "
        f"{med['engine']:,.0f} | {statistics.median(ratios):.2f}x |",
        f"| plain aiosmtplib loop, one connection per message | {med['per_message']:,.0f} | "
        f"{med['per_message'] / med['pooled']:.2f}x |",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("SMTP fan-out", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
