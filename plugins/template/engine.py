"""pybars3 behind one small surface: :func:`compile_template` and :func:`render`.

The family's boundary with the library: everything pybars raises becomes a
:class:`TemplateFailure` carrying one of the family's codes, here and nowhere else.

Two pybars quirks are handled here:

* pybars silently drops everything from an unterminated tag to the end of the template
  (``"Hi {{name"`` renders ``"Hi "``). :func:`compile_template` compiles the source once
  more with an end marker appended; a marker missing from the generated code means the
  parse stopped early, and the template is ``template.invalid``.
* pybars looks partials up only while rendering; :func:`partials_used` reads the names a
  template includes from the generated code, so a missing partial fails at construction.
* pybars' compiler keeps its state on the class, so compilation is serialised by a lock;
  compiled templates are cached by source and are safe to render concurrently.

pybars is imported on first use (its import builds a grammar, about a second).
"""

from __future__ import annotations

import ast
import functools
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from .codes import INVALID, MISSING_DATA, RENDER_FAILED
from .data import MissingData, has_key, to_json

__all__ = ["TemplateFailure", "compile_template", "partials_used", "render"]

Renderer = Callable[..., str]

_LOCK = threading.Lock()
_END = f"obTemplateEnd{secrets.token_hex(6)}"


@functools.cache
def _pybars() -> ModuleType:
    """pybars, imported on first use: building its grammar takes about a second, which
    listing plugins or running a workflow without templates should not pay."""
    import pybars

    module: ModuleType = pybars
    return module


@functools.cache
def _compiler() -> Any:
    return _pybars().Compiler()


class TemplateFailure(Exception):
    """A template problem classified into a family code (``template.*``)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


_PARTIAL_USE = re.compile(r'^\s*partialName = ("(?:[^"\\]|\\.)*")$', re.MULTILINE)


@functools.lru_cache(maxsize=512)
def _compile(source: str) -> tuple[Renderer, frozenset[str]]:
    if not isinstance(source, str):
        raise TemplateFailure(INVALID, f"a template must be a string, not {type(source).__name__}")
    with _LOCK:
        try:
            probe = _compiler().precompile(source + _END)
            code = _compiler().precompile(source)
        except Exception as exc:
            raise TemplateFailure(INVALID, f"the template does not compile: {exc}") from None
    if _END not in probe:
        raise TemplateFailure(
            INVALID,
            "the template does not compile: a tag is not closed ('{{' without its '}}', or "
            "a block like '{{#each}}' without its '{{/each}}')",
        )
    namespace: dict[str, Any] = {}
    exec(compile(code, "<handlebars template>", "exec"), namespace)  # noqa: S102 - pybars' own code
    renderer: Renderer = namespace["render"]
    used = frozenset(str(ast.literal_eval(m)) for m in _PARTIAL_USE.findall(code))
    return renderer, used


def compile_template(source: str) -> Renderer:
    """The render function of ``source``; raises :class:`TemplateFailure` (``invalid``)."""
    return _compile(source)[0]


def partials_used(source: str) -> frozenset[str]:
    """The partial names ``source`` includes (``{{> name}}``), read from pybars' own
    compiled code; raises :class:`TemplateFailure` (``invalid``) like
    :func:`compile_template`."""
    return _compile(source)[1]


class _MissingPartial(Exception):
    def __init__(self, name: object) -> None:
        super().__init__(name)
        self.name = str(name)


class _Partials(dict):  # type: ignore[type-arg]
    """pybars checks ``name in partials`` first; answer yes so a missing one reaches
    ``__missing__`` and is reported with the family's code instead of a bare message."""

    def __contains__(self, name: object) -> bool:
        return True

    def __missing__(self, name: object) -> Any:
        raise _MissingPartial(name)


def _block_helper_missing(this: Any, options: Mapping[str, Any], context: Any) -> Any:
    """``{{#name}}...{{/name}}`` for a value, not a helper (pybars' own, for our arrays)."""
    if callable(context):
        context = context(this)
    if context != "" and not context:
        return options["inverse"](this)
    if isinstance(context, list | tuple):
        return options["helpers"]["each"](this, options, context)
    return options["fn"](this if context is True else context)


class _UnknownHelper(Exception):
    pass


def _strict_helper_missing(scope: Any, name: str, *args: Any) -> Any:
    """Called by pybars when a simple name resolved to nothing: in strict mode, that is
    missing data, unless the key is there with a ``null`` value."""
    if args:
        raise _UnknownHelper(f"{{{{{name} ...}}}} calls a helper that does not exist")
    if name in ("", "this") or name.startswith("@"):
        return None
    is_scope = isinstance(scope, _pybars().Scope)
    context = scope.context if is_scope else scope
    overrides = scope.overrides if is_scope else None
    if has_key(context, name) or (overrides and name in overrides):
        return None
    raise MissingData(name)


def _json_helper(this: Any, value: Any = None) -> str:
    """``{{{json x}}}``: ``x`` as JSON (a string quoted and escaped, a missing value
    ``null``), for templates that write JSON lines such as an error log."""
    return to_json(value)


def render(
    template: str, data: Any, partials: Mapping[str, str] | None = None, *, strict: bool = False
) -> str:
    """Render ``template`` with ``data`` as ``this``; raises :class:`TemplateFailure`."""
    renderer = compile_template(template)
    compiled = _Partials()
    for name, source in (partials or {}).items():
        try:
            compiled[name] = compile_template(source)
        except TemplateFailure as exc:
            raise TemplateFailure(INVALID, f"partial {name!r}: {exc.message}") from None
    helpers: dict[str, Any] = {"blockHelperMissing": _block_helper_missing, "json": _json_helper}
    if strict:
        helpers["helperMissing"] = _strict_helper_missing
    try:
        return str(renderer(data, helpers=helpers, partials=compiled))
    except MissingData as exc:
        raise TemplateFailure(
            MISSING_DATA, f"the data has no {exc.name!r} (strict mode)", name=exc.name
        ) from None
    except _MissingPartial as exc:
        raise TemplateFailure(
            INVALID,
            f"the template uses the partial {exc.name!r}, which was not given; "
            f"given: {sorted(partials or {}) or 'none'}",
            partial=exc.name,
        ) from None
    except RecursionError:
        raise TemplateFailure(
            RENDER_FAILED, "rendering recursed too deeply (a partial that includes itself?)"
        ) from None
    except Exception as exc:
        raise TemplateFailure(
            RENDER_FAILED,
            f"rendering failed: {type(exc).__name__}: {exc}",
            exception_type=type(exc).__name__,
        ) from None
