"""Domain codes of the template family (contract §7.5). None is ever retried: rendering is
deterministic, so a retry repeats the same failure (contract §6.5: no retries, no timeout).

==========================  ==========  ========================================================
code                        disposition when
==========================  ==========  ========================================================
``template.invalid``        never       the template or a partial does not compile (raised at
                                        construction as ``InvalidBlockConfig`` with this code),
                                        or the template uses a partial that was not given
``template.missing_data``   never       ``strict=True`` and a name the template looks up is
                                        missing from the data
``template.render_failed``  never       rendering raised: a helper misused (``{{#if}}`` with no
                                        argument, an unknown helper called with arguments),
                                        partials recursing without end, binary input
==========================  ==========  ========================================================
"""

from __future__ import annotations

from orchestrator_blocks import sdk

DOMAIN = "template"
INVALID = "template.invalid"
MISSING_DATA = "template.missing_data"
RENDER_FAILED = "template.render_failed"
CODES = (INVALID, MISSING_DATA, RENDER_FAILED)

FAMILY = sdk.family(
    "template",
    domain=DOMAIN,
    codes=[
        sdk.Code(INVALID, "never", "the template or a partial does not compile, or is missing"),
        sdk.Code(MISSING_DATA, "never", "strict mode and a name the template looks up is missing"),
        sdk.Code(RENDER_FAILED, "never", "rendering raised: a helper misused, endless partials"),
    ],
    description="Handlebars templates (pybars3)",
)
