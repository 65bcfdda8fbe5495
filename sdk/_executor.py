"""The block executor: retry and timeout live here, once (contract §6, DESIGN §3).

The runtime hands a block, its effective policy, a context and an input to
:func:`execute_block` and gets back one terminal :class:`Outcome`. Everything between
(attempts, per-attempt timeouts, classification of exceptions into error envelopes,
deterministic backoff delays, the ``block.*`` events and the spans) happens here, so every
family gets the same behaviour and families only classify their library's failures.

Events emitted, in order, per execution::

    block.started (attempt 1) -> block.failed (terminal=false) -> block.retry_scheduled
    -> block.started (attempt 2) -> ... -> block.succeeded | block.failed (terminal=true)

Sync block functions. A sync function cannot be interrupted on the event loop: a 2 s body
would hold every other branch of the run, the block's timeout and the run's timeout for 2 s.
So while something may have to interrupt it (the attempt has a timeout, or the run a
deadline: ``services.deadline``), a sync function runs in a worker thread (a daemon thread,
so neither the loop's shutdown nor the process's exit waits for it), and the loop goes on.
Python cannot kill a thread: when the timeout fires, the attempt fails on time
(``runtime.timeout`` or the type's timeout code) and the thread is *abandoned*; whatever it
returns or raises later is discarded, and ``block.abandoned_thread_finished`` is logged
when it ends (with ``elapsed_ms`` and ``outcome``). A retried attempt starts a new thread.
Without a timeout or a deadline nothing could end the call early, so it runs inline on the
loop: no thread hop per block (the kernel benchmark's chain is sync ``custom_transform``
blocks). A sync function that must run on the loop's thread (one that calls
``asyncio.get_running_loop()``) should be written ``async``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from . import _logfields
from .context import RunContext
from .errors import (
    RUNTIME_PANIC,
    RUNTIME_TIMEOUT,
    BlockError,
    ErrorEnvelope,
    Origin,
    RetryDisposition,
    RunPaused,
    Severity,
    is_runtime_code,
)
from .policy import Policy
from .registry import BlockType
from .services import IdTracing, IterationBudgetExceeded, NoopTracing, SystemClock, utc_now_iso
from .values import _VALUE_TYPES, Empty, Value, as_value

__all__ = ["Outcome", "envelope_from_exception", "execute_block"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The terminal result of one block execution (all attempts included)."""

    value: Value
    error: ErrorEnvelope | None
    attempts: int

    @property
    def ok(self) -> bool:
        return self.error is None


class _AttemptTimedOut(Exception):
    pass


def envelope_from_exception(
    exc: BaseException, block_type: BlockType, ctx: RunContext, policy: Policy
) -> ErrorEnvelope:
    """Classify what an attempt raised into the envelope of contract §7.6."""
    base: dict[str, Any] = {
        "workflow_id": ctx.workflow_id,
        "run_id": ctx.run_id,
        "block_id": ctx.block_id,
        "attempt": ctx.attempt,
        "ts": utc_now_iso(),
    }
    if isinstance(exc, BlockError):
        details = dict(exc.details)
        runtime = is_runtime_code(exc.code)
        if not runtime and exc.code not in block_type.codes:
            details["undeclared_code"] = True
        disposition = exc.retry_disposition
        if not exc.disposition_given:
            disposition = block_type.disposition_of(exc.code) or disposition
        if exc.retry_after_ms is not None:
            details.setdefault("retry_after_ms", exc.retry_after_ms)
        return ErrorEnvelope(
            origin=Origin.RUNTIME if runtime else Origin.BLOCK,
            domain=None if runtime else block_type.domain,
            code=exc.code,
            message=exc.message,
            retry_disposition=disposition,
            severity=exc.severity,
            provider_status=exc.provider_status,
            details=details,
            cause=exc.cause,
            **base,
        )
    if isinstance(exc, _AttemptTimedOut):
        code = block_type.timeout_code or RUNTIME_TIMEOUT
        own = block_type.timeout_code is not None
        return ErrorEnvelope(
            origin=Origin.BLOCK if own else Origin.RUNTIME,
            domain=block_type.domain if own else None,
            code=code,
            message=f"attempt {ctx.attempt} exceeded the block timeout of {policy.timeout_ms} ms",
            retry_disposition=block_type.timeout_retry,
            severity=Severity.ERROR,
            details={"timeout_ms": policy.timeout_ms, "block_type": block_type.type_id},
            **base,
        )
    return ErrorEnvelope(
        origin=Origin.RUNTIME,
        domain=None,
        code=RUNTIME_PANIC,
        message=f"block {ctx.block_id!r} raised {type(exc).__name__}: {exc}",
        retry_disposition=RetryDisposition.NEVER,
        severity=Severity.CRITICAL,
        details={
            "exception_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "exception": str(exc),
            "block_type": block_type.type_id,
        },
        **base,
    )


def _drop(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class _Worker:
    """One sync call in a daemon thread, awaited from the loop until the loop gives up.

    ``state`` goes ``running`` -> ``done`` (the thread finished first: its outcome is handed
    to the loop) or ``running`` -> ``abandoned`` (the awaiting attempt was cancelled: the
    thread logs ``block.abandoned_thread_finished`` when it ends, and its outcome is dropped).
    """

    def __init__(self, call: Callable[[], Any], ctx: RunContext, block_type: BlockType) -> None:
        self.call = call
        self.ctx = ctx
        self.block_type = block_type
        self.state: Literal["running", "done", "abandoned"] = "running"
        self.lock = threading.Lock()
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = self.loop.create_future()
        self.started = time.monotonic()

    async def run(self) -> Any:
        context = contextvars.copy_context()  # the block's log fields, in the thread too
        thread = threading.Thread(
            target=context.run, args=(self._work,), name=f"block {self.ctx.block_id}", daemon=True
        )
        thread.start()
        try:
            return await asyncio.shield(self.future)
        except asyncio.CancelledError:
            with self.lock:
                if self.state == "running":
                    self.state = "abandoned"
            # An outcome already on its way to the loop is nobody's: retrieve and drop it.
            self.future.add_done_callback(_drop)
            raise

    def _work(self) -> None:
        try:
            outcome: tuple[bool, Any] = (True, self.call())
        except Exception as exc:  # handed to the awaiting attempt, or reported late
            outcome = (False, exc)
        except BaseException as exc:  # SystemExit in a thread: a failure of this block
            outcome = (False, RuntimeError(f"{type(exc).__name__}: {exc}"))
        with self.lock:
            abandoned = self.state == "abandoned"
            if not abandoned:
                self.state = "done"
        if abandoned:
            ok, result = outcome
            if inspect.iscoroutine(result):
                result.close()  # an async function's coroutine nobody will await
            self.ctx.log.warning(
                "block.abandoned_thread_finished",
                block_type=self.block_type.type_id,
                elapsed_ms=round((time.monotonic() - self.started) * 1000, 3),
                outcome="returned" if ok else f"raised {type(result).__name__}",
                message="the attempt had already ended (timeout or cancellation); "
                "this result was discarded",
            )
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self.loop.call_soon_threadsafe(self._settle, outcome)

    def _settle(self, outcome: tuple[bool, Any]) -> None:
        if self.future.done():
            return
        ok, result = outcome
        if ok:
            self.future.set_result(result)
        else:
            self.future.set_exception(result)


async def _invoke(
    block_type: BlockType, config: Mapping[str, Any], ctx: RunContext, value: Value
) -> Any:
    """Call the block function while a timeout or the run's deadline may end it (a sync one
    in a worker thread) and await what it returns."""
    if inspect.iscoroutinefunction(block_type.fn):
        result = block_type.call(ctx, value, config)
    else:
        result = await _Worker(lambda: block_type.call(ctx, value, config), ctx, block_type).run()
    if result.__class__ not in _NOT_AWAITABLE and inspect.isawaitable(result):
        result = await result
    return result


_NOT_AWAITABLE = frozenset({*_VALUE_TYPES, type(None), str, int, float, bool, dict, list, bytes})
"""What a block function returns most often, none of it awaitable (``isawaitable`` asks an
ABC, a microsecond a block)."""


async def _attempt(
    block_type: BlockType, config: Mapping[str, Any], policy: Policy, ctx: RunContext, value: Value
) -> Value:
    """One attempt that something may have to end: the block's timeout, the run's deadline
    (unbounded attempts are called inline by :func:`execute_block`)."""
    if policy.timeout_ms is None:
        return as_value(await _invoke(block_type, config, ctx, value))
    try:
        async with asyncio.timeout(policy.timeout_ms / 1000) as scope:
            result = await _invoke(block_type, config, ctx, value)
    except TimeoutError:
        if scope.expired():
            raise _AttemptTimedOut() from None
        raise
    return as_value(result)


def _failure_fields(env: ErrorEnvelope) -> dict[str, Any]:
    return {
        "origin": str(env.origin),
        "domain": env.domain,
        "code": env.code,
        "message": env.message,
        "retry_disposition": str(env.retry_disposition),
        "severity": str(env.severity),
        "provider_status": env.provider_status,
    }


def _retry_delay_ms(env: ErrorEnvelope, policy: Policy, ctx: RunContext) -> int:
    if env.retry_disposition is RetryDisposition.IMMEDIATE:
        return 0
    delay = policy.backoff.delay_ms(ctx.attempt, seed=f"{ctx.run_id}:{ctx.block_id}:{ctx.attempt}")
    retry_after = env.details.get("retry_after_ms")
    if isinstance(retry_after, int | float) and retry_after > delay:
        delay = int(min(retry_after, policy.backoff.cap_ms))
    return delay


_ID_ONLY = (IdTracing, NoopTracing)


async def execute_block(
    block_type: BlockType,
    config: Mapping[str, Any],
    policy: Policy,
    ctx: RunContext,
    value: Value,
) -> Outcome:
    """Run one block to a terminal outcome under its policy.

    Retries happen only for ``backoff``/``immediate`` dispositions and at most
    ``policy.retries`` times; each attempt is bounded by ``policy.timeout_ms`` and sees
    ``policy`` as ``ctx.policy``. A ``BlockError`` raised without a disposition gets the one
    its type declared for the code; a timed-out attempt gets the type's ``timeout_retry``. The
    function returns instead of raising for block failures; it lets through
    ``asyncio.CancelledError`` (run timeout or cancellation) and
    :class:`IterationBudgetExceeded`.
    """
    services = ctx.services
    tracing, clock = services.tracing, services.clock
    attrs = None
    if tracing.__class__ not in _ID_ONLY:  # (spans nothing records take no attributes)
        attrs = {
            "workflow.id": ctx.workflow_id,
            "run.id": ctx.run_id,
            "block.id": ctx.block_id or "",
            "block.type": block_type.type_id,
            "block.domain": block_type.domain,
        }
    with tracing.span(f"block {ctx.block_id}", attrs) as span:
        attempt = 0
        while True:
            attempt += 1
            services.budget.spend()
            actx = ctx.evolve(
                attempt=attempt,
                policy=policy,
                ts=utc_now_iso() if clock.__class__ is SystemClock else utc_now_iso(clock.now()),
                trace_id=span.trace_id,
                span_id=span.span_id,
            )
            with _logfields.bound(
                block_id=actx.block_id,
                attempt=attempt,
                trace_id=actx.trace_id,
                span_id=actx.span_id,
            ):
                actx.log.info(
                    "block.started",
                    block_type=block_type.type_id,
                    max_attempts=policy.max_attempts,
                    timeout_ms=policy.timeout_ms,
                )
                started = clock.monotonic()
                try:
                    if policy.timeout_ms is not None or services.deadline is not None:
                        result = await _attempt(block_type, config, policy, actx, value)
                    else:  # nothing could end it early: called inline, no coroutine of its own
                        result = block_type.call(actx, value, config)
                        if result.__class__ not in _NOT_AWAITABLE and inspect.isawaitable(result):
                            result = await result
                        result = as_value(result)
                except (asyncio.CancelledError, IterationBudgetExceeded, RunPaused):
                    span.set_attribute("block.attempts", attempt)
                    raise
                except Exception as exc:
                    env = envelope_from_exception(exc, block_type, actx, policy)
                else:
                    actx.log.info(
                        "block.succeeded",
                        block_type=block_type.type_id,
                        duration_ms=round((clock.monotonic() - started) * 1000, 3),
                        output_kind=result.kind,
                    )
                    span.set_attribute("block.attempts", attempt)
                    return Outcome(result, None, attempt)

                duration = round((clock.monotonic() - started) * 1000, 3)
                retry = env.retry_disposition.retryable and attempt <= policy.retries
                span.add_event(
                    "attempt.failed",
                    {"attempt": attempt, "error.code": env.code, "terminal": not retry},
                )
                if env.details.get("undeclared_code"):
                    actx.log.warning(
                        "block.undeclared_code",
                        block_type=block_type.type_id,
                        code=env.code,
                        domain=env.domain,
                    )
                fields = _failure_fields(env)
                if not retry:
                    actx.log.error(
                        "block.failed",
                        block_type=block_type.type_id,
                        duration_ms=duration,
                        terminal=True,
                        envelope=env.to_dict(),
                        **fields,
                    )
                    span.set_attribute("block.attempts", attempt)
                    span.record_error(env)
                    return Outcome(Empty(), env, attempt)
                actx.log.error(
                    "block.failed",
                    block_type=block_type.type_id,
                    duration_ms=duration,
                    terminal=False,
                    **fields,
                )
                delay_ms = _retry_delay_ms(env, policy, actx)
                actx.log.warning(
                    "block.retry_scheduled",
                    block_type=block_type.type_id,
                    delay_ms=delay_ms,
                    next_attempt=attempt + 1,
                    max_attempts=policy.max_attempts,
                    backoff=policy.backoff.kind,
                    **fields,
                )
                span.add_event(
                    "retry_scheduled",
                    {"attempt": attempt, "delay_ms": delay_ms, "error.code": env.code},
                )
            if delay_ms:
                await clock.sleep(delay_ms / 1000)
