"""Plugin discovery (stevedore) and calling (pluggy).

Built-in families, the built-in features (``orchestrator_blocks.app``) and third-party
plugins are found the same way: entry points in the ``orchestrator_blocks.plugins`` group.
A plugin that fails to import, fails pluggy's validation or raises from its
``register_block_types`` is recorded as a :class:`LoadFailure` and skipped; the host keeps
running. The default host is created lazily on first use, never at import time.

The host also calls the run-level hooks for the runtime (:meth:`PluginHost.guard`,
:meth:`run_started`, :meth:`run_finished`, :meth:`open_run_store`, :meth:`services`): hooks
may return awaitables, which are awaited here, in call order.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from orchestrator_blocks.sdk import hookspecs
from orchestrator_blocks.sdk._manager import PluginManager
from orchestrator_blocks.sdk.errors import RUNTIME_PANIC, PluginConflict, UnknownBlockType

if TYPE_CHECKING:
    from orchestrator_blocks.sdk import (
        BlockType,
        PlannedBlock,
        Registry,
        RunContext,
        RunView,
        Settings,
    )
    from orchestrator_blocks.sdk.run import FinishedRun, Refusal

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadFailure",
    "PluginHost",
    "default_host",
    "hosting",
    "register_plugin",
    "reset_default_host",
]

ENTRY_POINT_GROUP = "orchestrator_blocks.plugins"
_Source = Callable[[], str]  # the distribution of a plugin, read only when shown
_Loaded = tuple[Any, str, str, _Source]  # plugin, name, target, source


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A plugin the host skipped, and why (shown by ``orchestrator-blocks plugins list``)."""

    name: str
    target: str
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    source: str
    type_ids: tuple[str, ...]


def _entry_point_sources() -> dict[tuple[str, str], str]:
    """Map (entry point name, value) to ``distribution version`` for our group."""
    sources: dict[tuple[str, str], str] = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                sources[(ep.name, ep.value)] = f"{dist.metadata['Name']} {dist.version}"
    return sources


class PluginHost:
    """Owns the pluggy manager and the block-type registry of one process (or one test).

    Loaded plugins add their block types, in load order, when ``registry``, ``failures`` or
    ``plugins`` is first read: ``--help`` needs their commands only, not their block modules.
    """

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._types: Registry | None = None  # made on first use: `--help` needs no registry
        self._failures: list[LoadFailure] = []
        self._plugins: list[PluginInfo] = []
        self._untyped: list[_Loaded] = []
        self._lock = threading.RLock()
        self.cache: dict[str, Any] = {}
        """What consumers of this host derived from its plugins (cleared on registration)."""
        if load_entry_points:
            self.load_entry_points()

    def _typed(self) -> PluginHost:
        """This host, once every loaded plugin has added its block types."""
        with self._lock:
            while self._untyped:
                self._add_types(self._untyped.pop(0), strict=False)
        return self

    @property
    def registry(self) -> Registry:
        return self._typed()._registry

    @property
    def _registry(self) -> Registry:
        if self._types is None:
            from orchestrator_blocks.sdk.registry import Registry

            self._types = Registry()
        return self._types

    @property
    def failures(self) -> list[LoadFailure]:
        return self._typed()._failures

    @property
    def plugins(self) -> list[PluginInfo]:
        return self._typed()._plugins

    def load_entry_points(self, only: Iterable[str] | None = None) -> None:
        """Register the group's entry points (``only``: just those names)."""
        from stevedore import ExtensionManager  # imported lazily: keeps `--help` fast

        sources = functools.cache(_entry_point_sources)  # read only when a source is shown

        def source_of(ep: importlib.metadata.EntryPoint) -> str:
            return sources().get((ep.name, ep.value), "(unknown distribution)")

        def on_failure(
            _manager: Any, ep: importlib.metadata.EntryPoint, exc: BaseException
        ) -> None:
            reason = f"{type(exc).__name__}: {exc}"
            self._failures.append(LoadFailure(ep.name, ep.value, source_of(ep), reason))

        manager: ExtensionManager[Any] = ExtensionManager(
            namespace=ENTRY_POINT_GROUP,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
        )
        wanted = None if only is None else set(only)
        for ext in sorted(manager.extensions, key=lambda e: e.name):
            if wanted is not None and ext.name not in wanted:
                continue
            source = functools.partial(source_of, ext.entry_point)
            self._register(ext.plugin, ext.name, ext.entry_point.value, source, False)

    def _register(self, plugin: Any, name: str, target: str, source: _Source, strict: bool) -> None:
        """Register ``plugin``. Not ``strict`` (entry points): a failure is recorded and the
        plugin skipped, its block types are added on first use. ``strict`` (run-time
        registration): they are added now, and a failure is raised to the caller."""
        with self._lock:
            try:
                self.pm.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                if strict:
                    raise
                self._failures.append(LoadFailure(name, target, source(), str(exc)))
                return
            self.cache.clear()
            self._untyped.append((plugin, name, target, source))
            if strict:
                self._add_types(self._untyped.pop(), strict=True)

    def _add_types(self, loaded: _Loaded, *, strict: bool) -> None:
        """Call the plugin's ``register_block_types`` (a historic hook the host calls itself)."""
        plugin, name, target, source = loaded
        before, where = set(self._registry.type_ids()), source()
        try:
            with self._registry.registering_as(where):
                for impl in self.pm.hook.register_block_types.get_hookimpls():
                    if impl.plugin is plugin:
                        impl.function(**dict.fromkeys(impl.argnames, self._registry))
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            if strict:
                raise
            reason = f"register_block_types raised {type(exc).__name__}: {exc}"
            self._failures.append(LoadFailure(name, target, where, reason))
            return
        added = tuple(sorted(set(self._registry.type_ids()) - before))
        self._plugins.append(PluginInfo(name, where, added))
        self.cache.clear()

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register a plugin object or module now (notebooks, tests, embedding apps).

        Idempotent for an object already registered (re-running a notebook cell). Raises
        ``pluggy.PluginValidationError`` for a malformed plugin, whatever its hook raises,
        and :class:`PluginConflict` (one line) when another object is registered under the
        same name or the plugin claims a type id another plugin provides.
        """
        plugin_name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin):x}"
        source = f"{plugin_name} (registered at run time)".format
        if self.pm.is_registered(plugin):
            return
        taken = self.pm.get_plugin(plugin_name)
        if taken is not None:
            raise PluginConflict.for_name(plugin_name, _describe(taken), _describe(plugin))
        conflicts_before = dict(self.registry.conflicts)
        self._register(plugin, plugin_name, plugin_name, source, True)
        for type_id, sources in self.registry.conflicts.items():
            if conflicts_before.get(type_id) != sources:
                raise PluginConflict(type_id, sources[0], sources[-1])

    def block_types(self) -> Iterable[BlockType]:
        return iter(self.registry)

    def get(self, type_id: str) -> BlockType:
        """The type ``type_id``; :class:`UnknownBlockType` also names plugins that failed."""
        try:
            return self.registry.get(type_id)
        except UnknownBlockType as exc:
            if not self.failures:
                raise
            failed = ", ".join(f"{f.name} ({f.reason})" for f in self.failures)
            hint = f"plugins that failed to load: {failed}"
            raise UnknownBlockType(type_id, exc.installed, hint) from None

    # -- the run-level hooks, for the runtime ---------------------------------------------

    @property
    def has_guards(self) -> bool:
        return bool(self.pm.hook.block_guard.get_hookimpls())

    async def guard(self, ctx: RunContext, block: PlannedBlock) -> Refusal | None:
        """The first refusal of any ``block_guard`` (every awaitable is awaited); a guard
        that raises refuses (fail closed)."""
        refusal: Refusal | None = None
        try:
            for answer in self._answers(self.pm.hook.block_guard, {"ctx": ctx, "block": block}):
                if answer is None:
                    continue
                if inspect.isawaitable(answer):
                    answer = await answer
                from orchestrator_blocks.sdk.run import Refusal  # (not on the way of `--help`)

                if refusal is None and isinstance(answer, Refusal):
                    refusal = answer
        except Exception as exc:
            from orchestrator_blocks.sdk.run import Refusal

            what = f"{type(exc).__name__}: {exc}"
            return Refusal(
                RUNTIME_PANIC,
                f"block {ctx.block_id!r} refused: a guard raised {what}",
                {"exception_type": type(exc).__name__},
            )
        return refusal

    async def run_started(self, run: RunView) -> None:
        for answer in self._answers(self.pm.hook.run_started, {"run": run}):
            if answer is not None and inspect.isawaitable(answer):
                await answer

    @staticmethod
    def _answers(hook: Any, kw: dict[str, Any]) -> list[Any]:
        """``hook(**kw)``'s answers (``None`` included) in pluggy's order, without pluggy's
        per-call set-up unless a wrapper needs it (hooks called for every block and run)."""
        impls = hook.get_hookimpls()
        if any(i.hookwrapper or i.wrapper for i in impls):
            answers: list[Any] = hook(**kw)
            return answers
        return [i.function(*map(kw.__getitem__, i.argnames)) for i in reversed(impls)]

    async def run_finished(self, run: RunView, result: FinishedRun, log: Any) -> dict[str, Any]:
        """Call every ``run_finished`` hook, oldest plugin first; merge their reports. A hook
        that raises is logged (``run.finished_hook_failed``) and the next one still runs."""
        reports: dict[str, Any] = {}
        kwargs = {"run": run, "result": result}
        for impl in self.pm.hook.run_finished.get_hookimpls():
            try:
                answer = impl.function(*map(kwargs.__getitem__, impl.argnames))
                if answer is not None and inspect.isawaitable(answer):
                    answer = await answer
            except Exception as exc:
                log.error(
                    "run.finished_hook_failed",
                    plugin=self.pm.get_name(impl.plugin),
                    origin="runtime",
                    message=f"{type(exc).__name__}: {exc}",
                )
                continue
            if isinstance(answer, Mapping):
                reports.update(answer)
        return reports

    def open_run_store(self, settings: Settings) -> Any:
        """The store of ``provide_run_store`` (``None`` when no plugin provides one)."""
        return self.pm.hook.provide_run_store(settings=settings)

    def event_sinks(self, settings: Settings) -> tuple[Any, ...]:
        """Where a root run's events go besides the local log (``provide_event_sinks``)."""
        answers = self.pm.hook.provide_event_sinks(settings=settings)
        return tuple(sink for answer in answers for sink in answer)

    def services(self, settings: Settings, store: Any) -> dict[type, object]:
        """Every ``provide_services`` answer merged; the later registered plugin wins."""
        merged: dict[type, object] = {}
        for answer in reversed(self.pm.hook.provide_services(settings=settings, store=store)):
            merged.update(answer)
        return merged


_default: PluginHost | None = None
_default_lock = threading.Lock()


def default_host() -> PluginHost:
    """The process-wide host, loading entry points on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PluginHost()
    return _default


def reset_default_host() -> None:
    """Forget the process-wide host (the next use rediscovers plugins). For tests."""
    global _default
    with _default_lock:
        _default = None


@contextmanager
def hosting(host: PluginHost) -> Iterator[PluginHost]:
    """Make ``host`` the process-wide host inside the block (the testing kit's runs with
    only chosen plugins registered); the previous one comes back after."""
    global _default
    with _default_lock:
        previous, _default = _default, host
    try:
        yield host
    finally:
        with _default_lock:
            _default = previous


def _describe(plugin: Any) -> str:
    return f"{type(plugin).__name__} {getattr(plugin, '__name__', None) or hex(id(plugin))}"


def register_plugin(plugin: Any, name: str | None = None) -> None:
    """Register a plugin object or module with the process-wide host (``ob.register_plugin``)."""
    default_host().register(plugin, name=name)
