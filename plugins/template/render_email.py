"""``render_email``: personalise one email per item (the fan-out's "personalise" step).

Its output is the ``Json`` envelope ``send_email`` takes (``to``, ``subject``, ``html`` or
``text``), carrying over the item's ``idempotency_key`` and ``item_key`` (as
``customer_id``) that the fan-out put there, so the send that follows is idempotent per
recipient without any configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator_blocks import sdk

from .codes import FAMILY, INVALID, MISSING_DATA
from .data import view
from .engine import TemplateFailure, compile_template, render

__all__ = ["render_email"]


def _validate(config: dict[str, Any]) -> None:
    if (config["body"] is None) == (config["body_from"] is None):
        raise ValueError("give the body template as body=... or name it with body_from=...")
    if config["attachments_from"] is not None and not isinstance(config["attachments_from"], str):
        raise TypeError("attachments_from must name where the list of paths is, e.g. inputs.x")
    for name in ("to", "subject", "body"):
        source = config[name]
        if source is None:
            continue
        if not isinstance(source, str):
            raise TypeError(f"{name} must be a template string")
        try:
            compile_template(source)
        except TemplateFailure as exc:
            raise sdk.InvalidBlockConfig(f"{name}: {exc.message}", code=INVALID) from None


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _render(template: str, data: Any, what: str) -> str:
    try:
        return render(template, view(data, strict=False))
    except TemplateFailure as exc:
        raise sdk.BlockError(exc.code, f"{what}: {exc.message}", details=exc.details) from None


@FAMILY.block_type("render_email", validate=_validate)
def render_email(
    ctx: sdk.RunContext,
    value: sdk.Value,
    to: str = "{{email}}",
    subject: str = "{{inputs.subject}}",
    *,
    body: str | None = None,
    body_from: str | None = None,
    html: bool = True,
    attachments_from: str | None = None,
) -> sdk.Value:
    """Render an email envelope for one item: ``to``, ``subject`` and the body are
    Handlebars templates over the item (``{{email}}``, ``{{companyname}}``,
    ``{{inputs.subject}}``); ``body_from`` names where the body template is in the data
    (e.g. ``inputs.body_template``), ``attachments_from`` where the list of files to attach
    is (e.g. ``inputs.attachments``). Output: the ``Json`` envelope ``send_email`` takes."""
    data = value.payload if isinstance(value, sdk.Json) else None
    if not isinstance(data, Mapping):
        raise sdk.BlockError(MISSING_DATA, "render_email needs a Json object (one item) as input")
    template = body
    if template is None:
        assert body_from is not None
        template = _lookup(data, body_from)
        if not isinstance(template, str):
            raise sdk.BlockError(
                MISSING_DATA, f"no body template at {body_from!r} in the item's data"
            )
    envelope: dict[str, Any] = {
        "to": _render(to, data, "to").strip(),
        "subject": _render(subject, data, "subject").strip(),
        ("html" if html else "text"): _render(template, data, "body"),
    }
    if not envelope["to"]:
        raise sdk.BlockError(MISSING_DATA, f"the recipient template {to!r} rendered empty")
    if attachments_from is not None:
        attached = _lookup(data, attachments_from)
        if attached is not None and not isinstance(attached, list | str):
            raise sdk.BlockError(
                MISSING_DATA, f"{attachments_from!r} is not a list of paths: {attached!r:.80}"
            )
        if attached:
            envelope["attachments"] = attached
    if data.get("idempotency_key"):
        envelope["idempotency_key"] = data["idempotency_key"]
    if data.get("related_workflow"):
        envelope["related_workflow"] = data["related_workflow"]
    if data.get("item_key") is not None:
        envelope["customer_id"] = str(data["item_key"])
    return sdk.Json(envelope)
