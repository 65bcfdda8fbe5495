"""The ``template_handlebars`` and ``render_email`` block types (imported when block types
are registered)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator_blocks import sdk

from .codes import FAMILY, INVALID, RENDER_FAILED
from .data import view
from .engine import TemplateFailure, compile_template, partials_used, render
from .render_email import render_email

__all__ = ["BLOCK_TYPES", "render_email", "template_handlebars"]


def _validate(config: dict[str, Any]) -> None:
    template, partials = config["template"], config["partials"]
    if not isinstance(template, str):
        raise TypeError(f"template must be a string, not {type(template).__name__}")
    if partials is not None:
        if not isinstance(partials, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in partials.items()
        ):
            raise TypeError("partials must map partial names to template strings")
        config["partials"] = dict(partials)
    if not isinstance(config["strict"], bool):
        raise TypeError(f"strict must be True or False, not {config['strict']!r}")
    given = config["partials"] or {}
    for name, source in [(None, template), *given.items()]:
        where = "template" if name is None else f"partial {name!r}"
        try:
            compile_template(source)
            missing = sorted(partials_used(source) - set(given))
        except TemplateFailure as exc:
            raise sdk.InvalidBlockConfig(f"{where}: {exc.message}", code=INVALID) from None
        if missing:
            raise sdk.InvalidBlockConfig(
                f"{where} uses the partial(s) {missing}, which were not given; "
                f"given: {sorted(given) or 'none'}",
                code=INVALID,
            )


def _data(value: sdk.Value, strict: bool) -> Any:
    if isinstance(value, sdk.Json):
        return view(value.value, strict=strict)
    if isinstance(value, sdk.Bytes):
        try:
            return value.text()
        except UnicodeDecodeError:
            raise sdk.BlockError(
                RENDER_FAILED, "template_handlebars expects text or JSON input, got binary data"
            ) from None
    return value.payload  # Text -> the string; Empty -> None


@FAMILY.block_type("template_handlebars", validate=_validate)
def template_handlebars(
    ctx: sdk.RunContext,
    value: sdk.Value,
    template: str,
    partials: Mapping[str, str] | None = None,
    *,
    strict: bool = False,
) -> sdk.Value:
    """Render a Handlebars template with the input as ``this``; output ``Text``.

    ``{{x}}`` is HTML-escaped, ``{{{x}}}`` is not. A ``Json`` input's fields are names in
    the template (``{{name}}``, ``{{#each items}}``); a ``Text`` input is the string
    ``this``. ``partials`` maps names to templates for ``{{> name}}``. With
    ``strict=True`` a name missing from the data is ``template.missing_data`` instead of
    rendering as nothing. A template (or partial) that does not compile, or that includes
    a partial not given, fails at construction (``InvalidBlockConfig``, code
    ``template.invalid``). ``{{{json x}}}`` writes ``x`` as JSON (``null`` when missing).
    """
    try:
        return sdk.Text(render(template, _data(value, strict), partials, strict=strict))
    except TemplateFailure as exc:
        raise sdk.BlockError(exc.code, exc.message, details=exc.details) from None


BLOCK_TYPES = (
    template_handlebars,
    render_email,
)
