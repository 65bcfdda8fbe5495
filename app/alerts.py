"""Alerts: one email per run whose work failed for good (the card's
``alert_on_final_failure``).

A workflow asks for alerts with ``retry: {alert_on_final_failure: true}`` in its contract
(or ``w.set_alert_on_final_failure()``). Hanging on ``run_finished`` like the post actions,
this module sends **one** email per root run, never one per item, when the run ends with:

* fan-out items ``failed`` for good (after all their attempts; the item rows of the store
  say which, with their codes), whether the run ended ``partial`` or ``failed``; or
* the run itself ``failed`` or ``timed_out``.

A run ``rejected`` or ``canceled`` was a person's decision and sends no alert; items whose
outcome is ``unknown`` are counted in the alert but do not cause one by themselves (they
wait in ``approvals list`` for the approver already).

**Where it goes**: ``alert_email`` in the config file (``ORCHESTRATOR_BLOCKS_ALERT_EMAIL``),
else the approver when that setting is an email address; with neither, ``alert.no_address``
is logged and nothing is sent.

**How**: through the email family's ``send_email`` block type, found in the registry like
any other type and run by the SDK's executor, so it goes to SMTP when
``ORCHESTRATOR_BLOCKS_SMTP_URL`` is set, else to the outbox. Its idempotency key
``alert:<workflow>:<run id>`` is claimed in ``outbound_email_log`` before delivery, so a
recovered run that finishes again, or a retried attempt, never alerts twice. The ledger
gets one ``alert.sent`` event per attempt of the run (key ``alert:<run id>:<attempt>``;
``"email": "already_sent"`` when an earlier attempt's alert stands for this one). Its block
events are logged under the run (``logs RUN_ID`` shows them, block ``alert``) but are not
counted among the run's blocks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import RunStatus, StateStoreError

# This module is loaded with the plugins on every CLI start: what only an alert needs is
# imported when a run finishes.
if TYPE_CHECKING:
    from orchestrator_blocks.sdk._executor import Outcome
    from orchestrator_blocks.sdk.run import FinishedRun

    from .card import WorkflowSpec
    from .store import Store

__all__ = [
    "ALERT_EVENT",
    "alert_address",
    "alert_key",
    "compose_alert",
    "run_finished",
    "send_alert",
]

ALERT_EVENT = "alert.sent"
SEND_TYPE = "send_email"
MAX_LISTED = 50
_ALERTING = (RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.TIMED_OUT)


def looks_like_email(text: str | None) -> bool:
    if not text or any(c.isspace() for c in text):
        return False
    local, at, domain = text.rpartition("@")
    return bool(at and local and "." in domain.strip("."))


def alert_address(settings: sdk.Settings) -> str | None:
    """``alert_email`` (``ORCHESTRATOR_BLOCKS_ALERT_EMAIL``), else the approver if that is an
    email address, else ``None``."""
    from .config import app_config  # (pydantic models: not on every CLI start)

    config = app_config(settings)
    if config.alert_email:
        return config.alert_email
    return config.approver if looks_like_email(config.approver) else None


def alert_key(workflow_id: str, run_id: str) -> str:
    """The send's claim in ``outbound_email_log``: one alert per run, whatever the attempt."""
    return f"alert:{workflow_id}:{run_id}"


def _failed_count(result: FinishedRun, items: Sequence[Mapping[str, Any]]) -> int:
    """Items failed for good: the store's rows, else what the fan-out reported."""
    if items:
        return len(items)
    reported = sum(int(p.get("failed") or 0) for p in result.partial)
    if not reported and result.error is not None:
        failed = result.error.details.get("failed")
        reported = failed if isinstance(failed, int) else 0
    return reported


def _counts(result: FinishedRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    sources = list(result.partial)
    if result.error is not None and isinstance(result.error.details.get("total"), int):
        sources.append(result.error.details)
    for part in sources:
        for name in ("total", "sent", "failed", "skipped", "unknown", "not_started"):
            value = part.get(name)
            if isinstance(value, int):
                counts[name] = counts.get(name, 0) + value
    return counts


def compose_alert(
    spec: WorkflowSpec,
    result: FinishedRun,
    attempt: int,
    items: Sequence[Mapping[str, Any]],
) -> tuple[str, str]:
    """The alert's subject and plain-text body (secrets masked)."""
    failed = _failed_count(result, items)
    what = f"{failed} item{'s' if failed != 1 else ''} failed for good" if failed else ""
    if result.status is not RunStatus.PARTIAL and result.error is not None:
        what = f"ended {result.status} ({result.error.code})" + (f", {what}" if what else "")
    subject = f"[orchestrator-blocks] {spec.workflow_type} run {result.run_id}: {what}"
    lines = [
        f"{spec.workflow_type} run {result.run_id} (attempt {attempt}) ended {result.status} "
        f"at {result.finished_at}.",
        "",
    ]
    counts = _counts(result)
    if counts:
        lines.append(
            "Items: " + ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in counts) + "."
        )
    if items:
        lines.append("Failed for good:")
        for row in items[:MAX_LISTED]:
            lines.append(
                f"  {row.get('block_id')} {row.get('item_key')}: {row.get('code') or 'failed'} "
                f"after {row.get('attempts')} attempt(s)"
            )
        if len(items) > MAX_LISTED:
            lines.append(f"  ... and {len(items) - MAX_LISTED} more")
    elif failed:
        lines.append(f"{failed} item(s) failed for good (the item rows were not available).")
    if result.error is not None:
        env = result.error
        lines += ["", f"Error: {env.code} at {env.block_id}: {env.message}"]
    lines += [
        "",
        f"What happened:  orchestrator-blocks logs {result.run_id}",
        f"Retry what failed:  orchestrator-blocks runs retry {result.run_id}",
    ]
    from orchestrator_blocks.sdk.redaction import redact_text, scrub

    body = scrub(redact_text("\n".join(lines) + "\n"))
    return scrub(redact_text(subject)), body


async def send_alert(
    settings: sdk.Settings,
    store: Store | None,
    *,
    workflow_id: str,
    run_id: str,
    to: str,
    subject: str,
    body: str,
) -> Outcome:
    """Send through the registered ``send_email`` type and the SDK's executor, in a context
    of its own: its events go to the log files under the run, not into the run's result."""
    import asyncio
    import contextvars

    import structlog

    from orchestrator_blocks.kernel.plugin_host import default_host
    from orchestrator_blocks.kernel.telemetry import get_logger, sinks_installed, telemetry_for
    from orchestrator_blocks.sdk._executor import execute_block
    from orchestrator_blocks.sdk.services import Services

    async def isolated() -> Outcome:
        host = default_host()
        block_type = host.registry.get(SEND_TYPE)
        config = block_type.configure(to, subject, idempotency_key=alert_key(workflow_id, run_id))
        telemetry = telemetry_for(settings)
        services = Services(
            settings=settings, tracing=telemetry.tracing, provided=host.services(settings, store)
        )
        log = get_logger()
        ctx = sdk.RunContext(
            workflow_id=workflow_id,
            run_id=run_id,
            services=services,
            log=log,
            block_id="alert",
            block_type=SEND_TYPE,
        )
        # One retry at most: the run waits for its finish hooks.
        policy = block_type.default_policy.evolve(retries=min(1, block_type.default_policy.retries))
        with (
            sinks_installed(*telemetry.run_sinks()),
            structlog.contextvars.bound_contextvars(workflow_id=workflow_id, run_id=run_id),
        ):
            try:
                return await execute_block(block_type, config, policy, ctx, sdk.Text(body))
            finally:
                await services.aclose()

    task = asyncio.get_running_loop().create_task(isolated(), context=contextvars.Context())
    return await task


async def _alert(run: sdk.RunView, result: FinishedRun) -> dict[str, bool]:
    import asyncio

    from orchestrator_blocks.kernel.telemetry import get_logger

    from .card import WorkflowSpec
    from .post_actions import write_with_retry
    from .store import open_store

    log = get_logger()
    spec = WorkflowSpec(run.traits, run.workflow_id, run.source)

    try:
        store: Store | None = open_store(run.settings)
    except StateStoreError:
        store = None
    items: list[dict[str, Any]] = []
    if store is not None:
        try:
            items = await asyncio.to_thread(store.items.items_of, run.run_id, "failed")
        except StateStoreError as exc:
            log.warning("alert.items_unreadable", message=str(exc))
    failed = _failed_count(result, items)
    if not failed and result.status is RunStatus.PARTIAL:
        return {}  # only unknown outcomes: they wait for the approver already
    to = alert_address(run.settings)
    if to is None:
        log.warning(
            "alert.no_address",
            failed_items=failed,
            message="alert_on_final_failure is on, but no alert address is configured: set "
            "alert_email in the config file (ORCHESTRATOR_BLOCKS_ALERT_EMAIL), or make the "
            "approver an email address",
        )
        return {"alert": False}
    subject, body = compose_alert(spec, result, run.run_attempt, items)
    try:
        outcome = await send_alert(
            run.settings,
            store,
            workflow_id=run.workflow_id,
            run_id=run.run_id,
            to=to,
            subject=subject,
            body=body,
        )
    except (LookupError, sdk.OrchestratorError) as exc:  # no email family installed
        log.error("alert.failed", to=to, message=f"{type(exc).__name__}: {exc}")
        return {"alert": False}
    if outcome.error is not None:
        log.error("alert.failed", to=to, code=outcome.error.code, message=outcome.error.message)
        return {"alert": False}
    sent = outcome.value.payload if isinstance(outcome.value.payload, Mapping) else {}
    payload = {
        "to": to,
        "status": str(result.status),
        "attempt": run.run_attempt,
        "failed_items": failed,
        "message_id": sent.get("message_id"),
        "transport": sent.get("transport"),
        "email": "sent" if sent.get("sent") else str(sent.get("skipped") or "not_sent"),
    }
    log.info("alert.sent", **payload)
    key = f"alert:{run.run_id}:{run.run_attempt}"

    def record() -> Any:
        if store is None:
            raise StateStoreError("the state store is not available (see store.unavailable)")
        return store.ledger.record(
            ALERT_EVENT, payload, key, workflow_id=run.workflow_id, run_id=run.run_id
        )

    await write_with_retry(log, "alert", record, payload)
    return {"alert": True}


@sdk.hookimpl
def run_finished(run: sdk.RunView, result: FinishedRun) -> Awaitable[dict[str, bool]] | None:
    """Alert once for a root run of a workflow that asks for it and whose work failed."""
    if run.parent_run_id is not None or result.status not in _ALERTING:
        return None
    from .card import WorkflowSpec

    if not WorkflowSpec(run.traits, run.workflow_id, run.source).alert_on_final_failure:
        return None
    return _alert(run, result)
