"""Domain codes of the fan-out family (every one ``never`` retried: a fan-out is not re-run
as a whole by the executor; its items are retried one by one inside it).

=========================  ============================================================
code                       when
=========================  ============================================================
``fan_out.failed``         no item was delivered (every started item failed or ended
                           with an unknown outcome)
``fan_out.circuit_open``   no item was delivered and the circuit breaker tripped
                           (``circuit_breaker`` consecutive failed items)
``fan_out.halted``         no item was delivered and a kill switch stopped the fan-out
``fan_out.rejected``       every item was dropped by its per-item review (rejected, or
                           left undecided past the window): the run ends ``rejected``
``fan_out.invalid_input``  the input is not a list of objects (or a mapping holding one
                           under ``over``), an item lacks ``item_key``, two items share
                           a key, or the per-item workflow is invalid
=========================  ============================================================

When some items were delivered and others were not (failed, unknown, dropped by a
review), the block succeeds with its counts and the run ends ``partial`` instead
(``services.report_partial``).
"""

from __future__ import annotations

from orchestrator_blocks import sdk

__all__ = [
    "CIRCUIT_OPEN",
    "CODES",
    "DOMAIN",
    "FAILED",
    "FAMILY",
    "HALTED",
    "INVALID_INPUT",
    "REJECTED",
    "UNKNOWN_OUTCOME_SUFFIX",
]

DOMAIN = "fan_out"

FAILED = "fan_out.failed"
CIRCUIT_OPEN = "fan_out.circuit_open"
HALTED = "fan_out.halted"
INVALID_INPUT = "fan_out.invalid_input"
REJECTED = "fan_out.rejected"

CODES = (FAILED, CIRCUIT_OPEN, HALTED, INVALID_INPUT, REJECTED)

UNKNOWN_OUTCOME_SUFFIX = ".unknown_outcome"
"""A per-item failure whose code (or a nested cause's) ends so, e.g. ``email.unknown_outcome``,
counts as ``unknown``: the side effect may have happened; it is neither retried nor resent."""

FAMILY = sdk.family(
    "fan_out",
    domain=DOMAIN,
    codes=[
        sdk.Code(FAILED, "never", "no item was delivered"),
        sdk.Code(CIRCUIT_OPEN, "never", "no item was delivered and the circuit breaker tripped"),
        sdk.Code(HALTED, "never", "no item was delivered and a kill switch stopped the fan-out"),
        sdk.Code(INVALID_INPUT, "never", "not a list of objects with unique item keys"),
        sdk.Code(REJECTED, "never", "every item was dropped by its reviewer: the run is rejected"),
    ],
    description="a workflow run once per item",
)
