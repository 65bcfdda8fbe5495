"""Domain codes of the cron family (contract §7.5). Neither is retried (contract §6.3:
"schedule misconfig and runtime errors fail fast"):

=============================  ===========  ===================================================
code                           disposition  when
=============================  ===========  ===================================================
``cron.invalid_expression``    never        the expression does not parse, has a value out of
                                            range, or can never fire (``30 2`` = 30 February);
                                            raised at construction as ``InvalidBlockConfig``
                                            with this code
``cron.runtime_error``         never        the run was handed a firing time that is not a
                                            timezone-aware datetime (or ISO 8601 string)
=============================  ===========  ===================================================
"""

from __future__ import annotations

from orchestrator_blocks import sdk

DOMAIN = "cron"
INVALID_EXPRESSION = "cron.invalid_expression"
RUNTIME_ERROR = "cron.runtime_error"
CODES = (INVALID_EXPRESSION, RUNTIME_ERROR)

FAMILY = sdk.family(
    "cron",
    domain=DOMAIN,
    codes=[
        sdk.Code(INVALID_EXPRESSION, "never", "the expression does not parse or can never fire"),
        sdk.Code(RUNTIME_ERROR, "never", "the run was handed a firing time that is not usable"),
    ],
    description="the trigger block of scheduled workflows",
)
