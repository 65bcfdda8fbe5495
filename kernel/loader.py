"""Load workflows that users write as Python files (``run PATH.py``, ``serve --dir``)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .workflow import Workflow

__all__ = [
    "WorkflowLoadError",
    "load_module",
    "load_workflow",
    "resolve_workflow_path",
    "workflows_in_module",
]


class WorkflowLoadError(Exception):
    """A workflow file could not be loaded; the message says what to change."""


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


CONTRACT_SUFFIXES = (".yaml", ".yml")


def resolve_workflow_path(file_or_name: str, search_dirs: list[Path] | None = None) -> Path:
    """A path as given, or ``NAME`` looked up as ``NAME.py``/``.yaml``/``.yml`` in
    ``search_dirs`` (default ``./workflows``)."""
    path = Path(file_or_name)
    if path.suffix in (".py", *CONTRACT_SUFFIXES) or path.exists():
        return path
    dirs = search_dirs if search_dirs is not None else [Path("workflows")]
    for d in dirs:
        for suffix in (".py", *CONTRACT_SUFFIXES):
            candidate = d / f"{file_or_name}{suffix}"
            if candidate.is_file():
                return candidate
    where = ", ".join(str(d) for d in dirs)
    raise WorkflowLoadError(
        f"{file_or_name}: no such file, and no workflow of that name in {where}"
    )


def load_workflow(path: Path) -> Workflow:
    """The one workflow ``path`` exposes: a Python file's ``workflow``, or a YAML contract."""
    path = Path(path)
    if path.suffix in CONTRACT_SUFFIXES:
        from orchestrator_blocks.sdk import OrchestratorError

        from .contracts import load_contract

        try:
            workflow: Workflow = load_contract(path)
        except OrchestratorError as exc:
            raise WorkflowLoadError(str(exc)) from None
        workflow.spec.source = str(path.resolve())
        return workflow
    found = workflows_in_module(load_module(path))
    for w in found:
        w.spec.source = str(path.resolve())
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
