"""Domain codes of the transform family (contract §7.5). None is retried: a transform is
deterministic, so a retry repeats the same failure."""

from __future__ import annotations

from orchestrator_blocks import sdk

DOMAIN = "transform"
INVALID_INPUT = "transform.invalid_input"
PARSE_FAILED = "transform.parse_failed"
EXECUTION_FAILED = "transform.execution_failed"
CODES = (INVALID_INPUT, PARSE_FAILED, EXECUTION_FAILED)

FAMILY = sdk.family(
    "transform",
    domain=DOMAIN,
    codes=[
        sdk.Code(INVALID_INPUT, "never", "the input has the wrong kind or shape for the step"),
        sdk.Code(PARSE_FAILED, "never", "the input does not parse (JSON, a feed)"),
        sdk.Code(EXECUTION_FAILED, "never", "your function (or the renderer) raised"),
    ],
    description="deterministic local compute steps",
)
