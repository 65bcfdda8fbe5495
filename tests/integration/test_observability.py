"""Contract §8 and §12 items 6–7: JSON logs, OpenTelemetry spans, OTLP export, `logs`.

Spans are checked on a real OTLP/HTTP receiver on loopback that decodes the protobuf
payload; logs are read back from the JSON-lines files the run wrote.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support.otlp_receiver import OtlpReceiver

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.kernel.telemetry import flush_all, read_events

CORRELATION = [
    "workflow_id",
    "run_id",
    "block_id",
    "attempt",
    "origin",
    "domain",
    "code",
    "trace_id",
    "span_id",
    "ts",
]


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met before the deadline")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failing_workflow() -> tuple[ob.Workflow, dict[str, ob.Block]]:
    """load -> flaky (1 retry, then fails for good) -> never_runs; two on_error handlers,
    one of them a child workflow that fails in turn."""

    def flaky(_: object) -> None:
        raise sdk.BlockError(
            "transform.execution_failed",
            "upstream said no",
            retry_disposition="backoff",
            provider_status=503,
        )

    def write(line: str) -> None:
        raise sdk.BlockError("transform.execution_failed", f"disk full while logging {line}")

    child = ob.new_workflow("error_logger")
    child.link(
        ob.Block.custom_transform(lambda env: env["code"]).named("describe"),
        ob.Block.custom_transform(write).named("write"),
    )
    blocks = {
        "load": ob.Block.custom_transform(lambda p: {"n": 1}).named("load"),
        "flaky": ob.Block.custom_transform(flaky)
        .named("flaky")
        .set_retry_exponential(1, 2, 2.0, jitter=0.0),
        "never": ob.Block.custom_transform(lambda p: p).named("never_runs"),
        "notify": ob.Block.custom_transform(lambda env: "noted").named("notify"),
        "log_error": ob.Block.child_workflow(child).named("log_error"),
    }
    w = ob.new_workflow("observed")
    w.link(blocks["load"], blocks["flaky"])
    w.link(blocks["flaky"], blocks["never"])
    w.on_error(blocks["flaky"], blocks["notify"])
    w.on_error(blocks["flaky"], blocks["log_error"])
    return w, blocks


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch):
    with OtlpReceiver() as rec:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rec.endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "ob-tests")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        yield rec


def test_otlp_spans_one_trace_per_run(receiver: OtlpReceiver) -> None:
    w, _ = failing_workflow()
    result = w.run()
    assert result.status is ob.RunStatus.FAILED
    trace_id = result.events[0]["trace_id"]
    assert trace_id and len(trace_id) == 32
    flush_all()
    executions = len(result.events_of("block.started")) - len(
        [e for e in result.events_of("block.started") if e["attempt"] > 1]
    )
    spans = wait_for(
        lambda: (
            (s := receiver.spans_of_trace(trace_id))
            and len([x for x in s if x.name.startswith("block ")]) >= executions
            and s
        )
    )
    # Every event of the run (children included) carries the run's trace id.
    assert {e["trace_id"] for e in result.events} == {trace_id}
    roots = [s for s in spans if s.parent_span_id is None]
    assert len(roots) == 1
    root = roots[0]
    assert root.name == "run observed"
    assert root.attributes["run.id"] == result.run_id
    assert root.attributes["workflow.id"] == "observed"
    assert root.status_code == 2  # ERROR
    assert root.attributes["error.code"] == "transform.execution_failed"
    assert root.service_name == "ob-tests"

    block_spans = [s for s in spans if s.name.startswith("block ")]
    # One span per block execution: load, flaky (2 attempts, one span), notify, log_error,
    # and the child's describe + write.
    assert sorted(s.attributes["block.id"] for s in block_spans) == sorted(
        ["load", "flaky", "notify", "log_error", "describe", "write"]
    )
    assert len(block_spans) == executions
    flaky = next(s for s in block_spans if s.attributes["block.id"] == "flaky")
    assert flaky.status_code == 2
    assert flaky.attributes["error.code"] == "transform.execution_failed"
    assert flaky.attributes["error.domain"] == "transform"
    assert flaky.attributes["block.attempts"] == 2
    assert [e["name"] for e in flaky.events] == [
        "attempt.failed",
        "retry_scheduled",
        "attempt.failed",
    ]
    # Log lines of the flaky block carry that span's ids.
    flaky_events = [
        e for e in result.events if e["block_id"] == "flaky" and e["event"].startswith("block.")
    ]
    assert {e["span_id"] for e in flaky_events} == {flaky.span_id}
    # The child run nests under the log_error block span, in the same trace.
    child_root = next(s for s in spans if s.name == "run error_logger")
    log_error = next(s for s in block_spans if s.attributes["block.id"] == "log_error")
    assert child_root.parent_span_id == log_error.span_id
    assert log_error.attributes["error.code"] == "child_workflow.failed"
    write = next(s for s in block_spans if s.attributes["block.id"] == "write")
    assert write.attributes["run.id"] != result.run_id  # the child's own run id


def test_each_run_is_its_own_trace(receiver: OtlpReceiver) -> None:
    w = ob.new_workflow("twice")
    w.add(ob.Block.custom_transform(lambda p: p))
    first, second = w.run(1), w.run(2)
    flush_all()
    t1, t2 = first.events[0]["trace_id"], second.events[0]["trace_id"]
    assert t1 != t2
    for result, tid in ((first, t1), (second, t2)):
        spans = wait_for(lambda tid=tid: (s := receiver.spans_of_trace(tid)) and len(s) >= 2 and s)
        assert [s.name for s in spans if s.parent_span_id is None] == ["run twice"]
        assert {s.attributes["run.id"] for s in spans} == {result.run_id}


def test_sdk_disabled_keeps_logs_without_trace_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    w = ob.new_workflow("no_otel")
    w.add(ob.Block.custom_transform(lambda p: p))
    result = w.run()
    assert result.ok
    assert {e["trace_id"] for e in result.events} == {None}


def log_events(home: Path, run_id: str) -> list[dict]:
    return [e for e in read_events(home / "logs") if e.get("run_id") == run_id]


def test_failing_run_reconstructed_from_json_files_alone(isolated_home: Path, cli) -> None:
    w, _ = failing_workflow()
    result = w.run()
    on_disk = log_events(isolated_home, result.run_id)
    # Every event of this run is on disk, in order, with its correlation fields.
    assert [e["event"] for e in on_disk] == [
        e["event"] for e in result.events if e["run_id"] == result.run_id
    ]
    for e in on_disk:
        assert all(f in e for f in CORRELATION), e
        assert e["workflow_id"] == "observed"
    names = [e["event"] for e in on_disk]
    assert names[:2] == ["run.created", "run.started"]
    assert names[-1] == "run.failed"
    assert names.count("block.retry_scheduled") == 1
    retry = next(e for e in on_disk if e["event"] == "block.retry_scheduled")
    assert (retry["block_id"], retry["attempt"], retry["delay_ms"]) == ("flaky", 1, 2)
    terminal = [e for e in on_disk if e["event"] == "block.failed" and e["terminal"]]
    assert [e["block_id"] for e in terminal] == ["flaky", "log_error"]
    envelope = terminal[0]["envelope"]
    assert envelope["code"] == "transform.execution_failed"
    assert envelope["provider_status"] == 503 and envelope["attempt"] == 2
    assert {e["block_id"] for e in on_disk if e["event"] == "on_error.handler_started"} == {
        "notify",
        "log_error",
    }
    assert [e["block_id"] for e in on_disk if e["event"] == "on_error.handler_succeeded"] == [
        "notify"
    ]
    assert [e["block_id"] for e in on_disk if e["event"] == "on_error.handler_failed"] == [
        "log_error"
    ]
    assert [e["block_id"] for e in on_disk if e["event"] == "block.skipped"] == ["never_runs"]
    assert on_disk[-1]["envelope"]["block_id"] == "flaky"

    res = cli("logs", result.run_id)
    assert res.code == 0, res
    out = res.out
    for fragment in (
        "observed run",
        "failed",
        "flaky",
        "retry in 2 ms",
        "retry: flaky attempt 1 failed with transform.execution_failed",
        "error transform.execution_failed at flaky (attempt 2)",
        "on_error notify (for flaky, transform.execution_failed): succeeded",
        "on_error log_error (for flaky, transform.execution_failed): failed",
        "skipped never_runs",
        "error_logger run",
        "describe",
    ):
        assert fragment in out, (fragment, out)
    raw = cli("logs", result.run_id[:10], "--json")
    lines = [json.loads(line) for line in raw.out.splitlines()]
    assert {e["run_id"] for e in lines} == {result.run_id} | {
        e["run_id"] for e in result.events if e["workflow_id"] == "error_logger"
    }


def test_logs_and_runs_cli_errors_and_listing(cli) -> None:
    missing = cli("logs", "NOSUCHRUN")
    assert missing.code == 2
    assert "no run 'NOSUCHRUN'" in missing.err and len(missing.err.strip().splitlines()) == 1
    w = ob.new_workflow("listed")
    w.add(ob.Block.custom_transform(lambda p: p))
    ok = w.run()
    bad = ob.new_workflow("listed_bad")
    bad.add(ob.Block.select_first())
    failed = bad.run({"not": "a list"})
    listing = json.loads(cli("runs", "--json").out)
    by_id = {r["run_id"]: r for r in listing}
    assert by_id[ok.run_id]["status"] == "succeeded"
    assert by_id[failed.run_id]["status"] == "failed"
    assert by_id[failed.run_id]["code"] == "transform.invalid_input"
    assert [r["run_id"] for r in listing][:2] == [failed.run_id, ok.run_id]
    only = json.loads(cli("runs", "--json", "--status", "failed").out)
    assert [r["run_id"] for r in only] == [failed.run_id]


WORKFLOW_FILE = """
import orchestrator_blocks as ob
workflow = ob.new_workflow("exported")
a = ob.Block.custom_transform(lambda p: "a").named("a")
b = ob.Block.custom_transform(lambda p: p + "b").named("b")
workflow.link(a, b)
"""


def test_collector_down_never_fails_a_run_and_logs_stay_complete(
    tmp_path: Path, isolated_home: Path
) -> None:
    """A CLI run exporting to a closed port: it succeeds, exits promptly (bounded exit
    flush), warns once, and the JSON log still has every event of the run."""
    path = tmp_path / "wf.py"
    path.write_text(textwrap.dedent(WORKFLOW_FILE))
    env = dict(os.environ)
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
        OTEL_BSP_SCHEDULE_DELAY="10",
        ORCHESTRATOR_BLOCKS_HOME=str(isolated_home),
    )
    exe = Path(sys.executable).parent / "orchestrator-blocks"
    proc = subprocess.run(
        [str(exe), "run", str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "succeeded"
    warnings = [ln for ln in proc.stderr.splitlines() if "OTLP export" in ln]
    assert len(warnings) <= 1
    events = log_events(isolated_home, summary["run_id"])
    assert [e["event"] for e in events] == [
        "run.created",
        "run.started",
        "block.started",
        "block.succeeded",
        "block.started",
        "block.succeeded",
        "run.succeeded",
    ]


class HungCollector:
    """A TCP peer that accepts every connection and never answers a byte (a collector
    stuck behind a proxy, say): the exporter waits out its whole timeout on it."""

    def __init__(self) -> None:
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


# The README bounds the exit flush at 2 s. Add the interpreter's start and the CLI's
# imports (about 1.5 s here, up to 3 s on two busy shared cores) and a run of two trivial
# blocks: 6 s is generous for that, and well under the 10 s the exporter's own timeout
# would cost if anything at exit waited for the hung collector.
EXIT_BOUND_S = 6.0


def test_a_hung_collector_delays_the_exit_by_the_bounded_flush_only(
    tmp_path: Path, isolated_home: Path
) -> None:
    path = tmp_path / "wf.py"
    path.write_text(textwrap.dedent(WORKFLOW_FILE))
    collector = HungCollector()
    env = dict(os.environ)
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.port}",
        ORCHESTRATOR_BLOCKS_HOME=str(isolated_home),
    )
    exe = Path(sys.executable).parent / "orchestrator-blocks"
    try:
        started = time.monotonic()
        proc = subprocess.run(
            [str(exe), "run", str(path), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        wall = time.monotonic() - started
    finally:
        collector.close()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "succeeded"
    assert collector.held, "the exporter never reached the collector"
    assert wall < EXIT_BOUND_S, f"the process took {wall:.1f} s to exit"


def test_collector_down_in_process_warns_once(
    monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    w = ob.new_workflow("down")
    w.add(ob.Block.custom_transform(lambda p: p))
    results = [w.run(i) for i in range(3)]
    assert all(r.ok for r in results)
    flush_all()
    flush_all()
    warnings = [e for e in read_events(isolated_home / "logs") if e["event"] == "telemetry.warning"]
    assert len(warnings) == 1
    assert "OTLP export" in warnings[0]["message"]
    for r in results:
        assert len(log_events(isolated_home, r.run_id)) == len(r.events)


APPENDER = """
import sys
import orchestrator_blocks as ob
w = ob.new_workflow(sys.argv[1])
w.link(ob.Block.custom_transform(lambda p: "x" * 3000), ob.Block.custom_transform(lambda p: p))
for i in range(int(sys.argv[2])):
    assert w.run(i).ok
"""


def test_concurrent_runs_and_processes_never_tear_lines(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_LOG_MAX_BYTES", "200000")  # force rotation too
    script = tmp_path / "append.py"
    script.write_text(APPENDER)
    env = dict(os.environ)
    procs = [
        subprocess.Popen([sys.executable, str(script), f"proc{i}", "40"], env=env) for i in range(2)
    ]

    w = ob.new_workflow("inproc")
    w.link(ob.Block.custom_transform(lambda p: "y" * 3000), ob.Block.custom_transform(lambda p: p))

    async def many() -> list[ob.RunResult]:
        return await asyncio.gather(*(w.run_async(i) for i in range(30)))

    results = asyncio.run(many())
    for p in procs:
        assert p.wait(timeout=120) == 0
    files = sorted((isolated_home / "logs").glob("events-*.jsonl"))
    assert len(files) > 1, "the size limit should have rotated the log into segments"
    total = 0
    for f in files:
        for line in f.read_bytes().splitlines():
            json.loads(line)  # every line is whole
            total += 1
    per_run = 7  # created, started, 2 x (started, succeeded), succeeded
    runs = {e["run_id"] for e in read_events(isolated_home / "logs")}
    assert len(runs) == 30 + 80
    assert total == per_run * (30 + 80)
    assert all(r.ok for r in results)


def test_secrets_never_reach_the_log(isolated_home: Path) -> None:
    @sdk.block_type("leaky", codes=["leaky.never"])
    def leaky(ctx: sdk.RunContext, value: sdk.Value) -> str:
        """Log things that look like secrets."""
        ctx.log.info(
            "leaky.config",
            password="hunter2",
            api_key="sk-123",
            url="smtp://user:hunter3@mail.example.com:25",
        )
        return "ok"

    import types

    ob.register_plugin(
        types.SimpleNamespace(
            register_block_types=sdk.hookimpl(lambda registry: registry.add(leaky))
        ),
        name="leaky",
    )
    w = ob.new_workflow("secrets")
    w.add(ob.Block.leaky())
    result = w.run()
    text = "\n".join(p.read_text() for p in (isolated_home / "logs").glob("*.jsonl"))
    for secret in ("hunter2", "sk-123", "hunter3"):
        assert secret not in text
        assert secret not in json.dumps(result.events)
    assert "smtp://**********@mail.example.com:25" in text


def test_otlp_grpc_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    from support.otlp_receiver import GrpcOtlpReceiver

    with GrpcOtlpReceiver() as rec:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rec.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        w = ob.new_workflow("over_grpc")
        w.link(
            ob.Block.custom_transform(lambda p: 1).named("one"),
            ob.Block.custom_transform(lambda p: p + 1).named("two"),
        )
        result = w.run()
        flush_all()
        trace_id = result.events[0]["trace_id"]
        spans = wait_for(lambda: (s := rec.spans_of_trace(trace_id)) and len(s) >= 3 and s)
        assert sorted(s.name for s in spans) == ["block one", "block two", "run over_grpc"]
