"""Load workflows from files (``run PATH``, ``serve --dir``, resuming a run).

The kernel loads Python files (their ``workflow`` variable, else ``build_workflow()``, else
their only ``Workflow``); plugins teach it other kinds of file through the
``register_workflow_loaders`` hook (``orchestrator_blocks.app`` adds YAML files). A
loaded workflow remembers its file in ``workflow.source``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from orchestrator_blocks.sdk import OrchestratorError

from .plugin_host import PluginHost, default_host
from .workflow import Workflow

__all__ = [
    "Loaders",
    "WorkflowLoadError",
    "file_hash",
    "load_module",
    "load_workflow",
    "loaders_of",
    "mark_source",
    "resolve_workflow_path",
    "workflows_in_module",
]


class WorkflowLoadError(Exception):
    """A workflow file could not be loaded; the message says what to change."""


class Loaders:
    """File suffix -> loader, filled by ``register_workflow_loaders`` (``.py`` built in)."""

    def __init__(self) -> None:
        self.by_suffix: dict[str, tuple[Callable[[Path], Any], str]] = {}

    def add(self, suffixes: tuple[str, ...], load: Callable[[Any], Any], what: str) -> None:
        for suffix in suffixes:
            self.by_suffix[suffix.lower()] = (load, what)

    @property
    def suffixes(self) -> tuple[str, ...]:
        return (".py", *sorted(self.by_suffix))


def loaders_of(host: PluginHost | None = None) -> Loaders:
    """The loaders the host's plugins registered (asked once per host)."""
    host = host or default_host()
    found: Loaders | None = host.cache.get("loaders")
    if found is None:
        found = host.cache["loaders"] = Loaders()
        host.pm.hook.register_workflow_loaders(loaders=found)
    return found


def load_module(path: Path) -> ModuleType:
    path = Path(path)
    if not path.is_file():
        raise WorkflowLoadError(f"{path}: no such file")
    if path.suffix != ".py":
        raise WorkflowLoadError(f"{path}: expected a Python file ending in .py")
    digest = hashlib.sha1(str(path.resolve()).encode(), usedforsecurity=False).hexdigest()[:10]
    name = f"_orchestrator_blocks_workflow_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise WorkflowLoadError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise WorkflowLoadError(f"{path}: importing it raised {type(exc).__name__}: {exc}") from exc
    return module


def workflows_in_module(module: ModuleType) -> list[Workflow]:
    """The workflows a module exposes: ``workflow``, else ``build_workflow()``, else every
    module-level ``Workflow`` (child workflows referenced by others included)."""
    found = getattr(module, "workflow", None)
    if isinstance(found, Workflow):
        return [found]
    builder = getattr(module, "build_workflow", None)
    if callable(builder):
        built = builder()
        if not isinstance(built, Workflow):
            raise WorkflowLoadError(
                f"{module.__file__}: build_workflow() returned {type(built).__name__}, "
                "not a Workflow"
            )
        return [built]
    return [v for v in vars(module).values() if isinstance(v, Workflow)]


def resolve_workflow_path(file_or_name: str, search_dirs: list[Path] | None = None) -> Path:
    """A path as given, or ``NAME`` looked up as ``NAME.py`` (or any registered suffix,
    such as ``.yaml``) in ``search_dirs`` (default ``./workflows``)."""
    path = Path(file_or_name)
    suffixes = loaders_of().suffixes
    if path.suffix in suffixes or path.exists():
        return path
    dirs = search_dirs if search_dirs is not None else [Path("workflows")]
    for d in dirs:
        for suffix in suffixes:
            candidate = d / f"{file_or_name}{suffix}"
            if candidate.is_file():
                return candidate
    where = ", ".join(str(d) for d in dirs)
    raise WorkflowLoadError(
        f"{file_or_name}: no such file, and no workflow of that name in {where}"
    )


def mark_source(workflow: Workflow, path: Path) -> None:
    """Remember the file a workflow came from, and its content's hash (durable runs are
    continued only from the same file content)."""
    workflow.source = str(path.resolve())
    workflow.source_hash = file_hash(path)


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_workflow(path: Path) -> Workflow:
    """The one workflow ``path`` exposes: a Python file's ``workflow``, or what a registered
    loader makes of another kind of file."""
    path = Path(path)
    loader = loaders_of().by_suffix.get(path.suffix.lower())
    if loader is not None:
        load, what = loader
        try:
            workflow = load(path)
        except OrchestratorError as exc:
            raise WorkflowLoadError(str(exc)) from None
        if not isinstance(workflow, Workflow):
            raise WorkflowLoadError(f"{path}: the loader for {what} returned no workflow")
        mark_source(workflow, path)
        return workflow
    found = workflows_in_module(load_module(path))
    for w in found:
        mark_source(w, path)
    if len(found) == 1:
        return found[0]
    if not found:
        raise WorkflowLoadError(
            f"{path}: defines no workflow; expose one as `workflow = ob.new_workflow(...)`"
        )
    names = ", ".join(repr(w.id) for w in found)
    raise WorkflowLoadError(
        f"{path}: defines several workflows ({names}); name the one to run `workflow`"
    )
