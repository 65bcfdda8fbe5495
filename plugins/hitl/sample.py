"""The sample body an approver sees: one item's email rendered from the body template.

Rendered with pybars (the same Handlebars engine as ``template_handlebars``), HTML-escaped
by ``{{x}}``, so a customer name with markup shows as text. A template that does not
render is shown as the failure, not hidden: the approver should see it before approving.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["render_sample"]

_LOCK = threading.Lock()  # pybars keeps compiler state on the class


@functools.cache
def _compiler() -> Any:
    import pybars

    return pybars.Compiler()


def render_sample(template: str, item: Any, inputs: Mapping[str, Any]) -> str:
    data = {**item, "item": item, "inputs": dict(inputs)} if isinstance(item, Mapping) else item
    try:
        with _LOCK:
            compiled = _compiler().compile(template)
        return str(compiled(data))
    except Exception as exc:  # pybars raises plain Exceptions for bad templates
        return f"[the body template does not render: {type(exc).__name__}: {exc}]"
