"""Helpers of the fan-out tests: per-item workflows built the way users build them (an
envelope step, then ``send_email``), the fan-out around them, and log-file readers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.smtp_server import SmtpPeer

import orchestrator_blocks as ob


def envelope(item: dict[str, Any]) -> dict[str, Any]:
    """The per-item message envelope ``send_email`` takes (recipient and key travel in it)."""
    return {
        "to": item["email"],
        "subject": f"Hello {item['name']}",
        "text": f"Dear {item['name']}, {item['inputs'].get('note', 'news')}.",
        "idempotency_key": item["idempotency_key"],
        "customer_id": item["item_key"],
    }


def per_item(
    *before: Callable[[Any], Any], send_retries: int = 0, workflow_id: str = "per_recipient"
) -> ob.Workflow:
    """``[custom_transform(fn) for fn in before] -> custom_transform(envelope) -> send_email``.

    The send step does not retry on its own (``send_retries``), so retries seen at the
    SMTP peer are the fan-out's per-item retries.
    """
    w = ob.new_workflow(workflow_id)
    steps = [ob.Block.custom_transform(fn) for fn in before]
    steps.append(ob.Block.custom_transform(envelope).named("envelope"))
    steps.append(
        ob.Block.send_email()
        .set_retry_exponential(send_retries, 1, 2.0, jitter=0.0)
        .set_timeout_ms(5_000)
        .named("send")
    )
    w.add(steps[0])
    for a, b in itertools.pairwise(steps):
        w.link(a, b)
    return w


def recipients(n: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "email": f"c{i}@example.org", "name": f"Customer {i}"} for i in range(1, n + 1)
    ]


def fan_out(per_item_workflow: ob.Workflow, workflow_id: str = "batch_notify", **options: Any):
    """A workflow whose only block is ``for_each`` (fast per-item retry backoff by default)."""
    options.setdefault("base_ms", 1)
    options.setdefault("max_ms", 4)
    w = ob.new_workflow(workflow_id)
    block = ob.Block.for_each(per_item_workflow, **options)
    w.add(block)
    return w, block


def context(items: list[dict[str, Any]], **inputs: Any) -> dict[str, Any]:
    """The contract's context mapping: ``{"inputs": {...}, "recipients": [...]}``."""
    return {"inputs": inputs, "recipients": items}


def log_events(home: Path, name: str) -> list[dict[str, Any]]:
    """Events called ``name`` in the JSON-lines log files under ``home/logs``."""
    found = []
    for path in sorted((home / "logs").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def recipients_of(peer: SmtpPeer) -> list[str]:
    return sorted(rcpt for d in peer.deliveries for rcpt in d.rcpt_tos)
