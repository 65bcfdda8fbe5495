"""Workers: items/s of a 5,000-item fan-out with 1, 2 and 3 workers vs the in-process executor.

All on one throwaway PostgreSQL (the store workers need), in one run: the in-process executor
runs the fan-out in this process; each worker setup starts that many
``orchestrator-blocks worker`` processes and hands the run to them through the job queue.
Two per-item steps: ``null`` (a transform that does nothing: the engine's and the queue's own
cost per item) and ``smtp`` (``send_email`` to an aiosmtpd server on loopback, with its
idempotency claim). Rewrites the "Workers" section of bench/RESULTS.md.

On a machine with few cores, workers add processes that compete for the same cores: expect
overhead, not speed-up, there; the numbers say how much.

    python bench/bench_workers.py [--items 5000] [--workers 1 2 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_fanout import _CountingHandler, _free_port  # noqa: E402
from bench_kernel import write_section  # noqa: E402

FLOW = """
import orchestrator_blocks as ob

item = ob.new_workflow("bench_item")
SINK
workflow = ob.new_workflow("bench_items")
people = ob.Block.custom_transform(
    lambda n: [{"id": i, "email": f"c{i}@example.org"} for i in range(int(n))]
).named("people")
fan = ob.Block.for_each(item, item_key="id", concurrency=16, progress=False).named("fan")
workflow.link(people, fan)
"""
WORKER = (sys.executable, "-m", "orchestrator_blocks", "worker")
SINKS = {
    "null": 'item.add(ob.Block.custom_transform(lambda i: None).named("noop"))',
    "smtp": (
        "item.link(ob.Block.custom_transform(lambda i: {'to': i['email'], 'subject': 'b', "
        "'text': 'x', 'idempotency_key': i['idempotency_key']}).named('env'), "
        "ob.Block.send_email().named('send'))"
    ),
}


def _database(server: Any) -> str:
    import sqlalchemy

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(server.url).rsplit("/", 1)[0].replace("+psycopg", "") + f"/{name}"


def _status(db_url: str, run_id: str) -> str | None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sqlalchemy.text("SELECT status FROM runs WHERE run_id = :r"), {"r": run_id}
            ).first()
            return row[0] if row else None
    except sqlalchemy.exc.ProgrammingError:
        return None
    finally:
        engine.dispose()


def one(sink: str, workers: int, items: int, server: Any, smtp_url: str, tmp: Path) -> float:
    """Seconds for one fan-out of ``items``: in this process (``workers`` 0) or on workers."""
    flows = tmp / f"flows-{sink}-{workers}"
    flows.mkdir()
    (flows / "bench_items.py").write_text(textwrap.dedent(FLOW.replace("SINK", SINKS[sink])))
    db_url = _database(server)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_BLOCKS_", "OTEL_"))
    }
    env.update(
        ORCHESTRATOR_BLOCKS_HOME=str(tmp / f"home-{sink}-{workers}"),
        ORCHESTRATOR_BLOCKS_DB_URL=db_url,
        ORCHESTRATOR_BLOCKS_SMTP_URL=smtp_url,
        ORCHESTRATOR_BLOCKS_WORKFLOWS_DIR=str(flows),
        ORCHESTRATOR_BLOCKS_LOGS="off",
        OTEL_SDK_DISABLED="true",
        ORCHESTRATOR_BLOCKS_CHUNK_SIZE="100",
        ORCHESTRATOR_BLOCKS_FAN_OUT_POLL_S="0.1",
    )
    if workers == 0:
        code = (
            "import time, sys; from orchestrator_blocks.kernel.loader import load_workflow;"
            f"w = load_workflow(__import__('pathlib').Path({str(flows / 'bench_items.py')!r}));"
            f"t = time.perf_counter(); r = w.run({items}); "
            "print(time.perf_counter() - t, r.status)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        assert out[1] == "succeeded", out
        return float(out[0])
    procs = [
        subprocess.Popen(
            [*WORKER, "--dir", str(flows), "--concurrency", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        time.sleep(3.0)  # the workers are up and listening
        os.environ.update(env)
        from orchestrator_blocks.app.workers.executor import ProcrastinateExecutor
        from orchestrator_blocks.kernel.config import load_settings
        from orchestrator_blocks.kernel.loader import load_workflow

        async def enqueue() -> str:
            executor = ProcrastinateExecutor(load_settings())
            queued = await executor.run(load_workflow(flows / "bench_items.py"), items)
            await executor.aclose()
            return queued.run_id

        t0 = time.perf_counter()
        run_id = asyncio.run(enqueue())
        while _status(db_url, run_id) not in ("succeeded", "partial", "failed"):
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        assert _status(db_url, run_id) == "succeeded", _status(db_url, run_id)
        return seconds
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    from aiosmtpd.controller import Controller
    from support.postgres import start_postgres

    server = start_postgres()
    if isinstance(server, str):
        print(f"needs PostgreSQL: {server}")
        return 2
    handler = _CountingHandler()
    port = _free_port()
    smtp = Controller(handler, hostname="127.0.0.1", port=port)
    smtp.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
            for sink in ("null", "smtp"):
                base = one(sink, 0, args.items, server, f"smtp://127.0.0.1:{port}", Path(tmp))
                rows.append((sink, "in-process", base, base))
                for n in args.workers:
                    secs = one(sink, n, args.items, server, f"smtp://127.0.0.1:{port}", Path(tmp))
                    rows.append((sink, f"{n} worker(s)", secs, base))
    finally:
        smtp.stop()
        server.stop()
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.python_implementation()} "
        f"{platform.python_version()}, **{os.cpu_count()} CPUs**; a for_each of {args.items} "
        "items (concurrency 16, chunks of 100, each worker taking 2 jobs at once) on one local "
        "PostgreSQL store, sinks off, in one run (`python bench/bench_workers.py`).",
        "",
        "| per-item step | executor | seconds | items/s | vs in-process |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for sink, label, secs, base in rows:
        lines.append(
            f"| {sink} | {label} | {secs:.1f} | {args.items / secs:.0f} | {base / secs:.2f}x |"
        )
    lines += [
        "",
        f"On {os.cpu_count()} cores the workers compete with each other, PostgreSQL and the "
        "SMTP server for the same CPUs, and each item costs a claim, a row update and a "
        "shared circuit-breaker count in the store: expect overhead, not speed-up, here. "
        "Workers pay off when they run on machines of their own.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("Workers", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
