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

DOMAIN = "template"
INVALID = "template.invalid"
MISSING_DATA = "template.missing_data"
RENDER_FAILED = "template.render_failed"
CODES = (INVALID, MISSING_DATA, RENDER_FAILED)
