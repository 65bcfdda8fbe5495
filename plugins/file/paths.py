"""Confinement to the files root, and the family's one mapping of ``OSError`` to codes.

Every path a file block touches lives under ``ctx.settings.files_root``
(``ORCHESTRATOR_BLOCKS_FILES_ROOT``, default: the working directory). Two checks, because
the root is only known at run time and symlinks can change between construction and run:

* :func:`check_config_path` at construction: a relative path that climbs out with ``..``
  (``../x``, ``a/../../x``) or a NUL byte can never be valid, so it fails before any run;
* :func:`confine` at run time: an absolute path must lie inside the root *as written*
  (nothing outside is even looked at), and the *resolved* path (every symlink followed,
  including the not-yet-existing file's parents) must be the root or below it.

Blocks then open the resolved path with ``O_NOFOLLOW``, so a symlink planted at the last
component after the check is refused too (``ELOOP`` is ``file.invalid_path``).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from orchestrator_blocks import sdk

from .codes import INVALID_PATH, IO, NOT_FOUND, PERMISSION_DENIED

__all__ = ["Confined", "check_config_path", "confine", "os_errors", "static_problem"]


@dataclass(frozen=True, slots=True)
class Confined:
    """A path checked against the root: ``path`` is resolved, ``relative`` is for humans
    (the normalised path as the user wrote it, relative to the root, ``/``-separated)."""

    root: Path
    path: Path
    relative: str


def static_problem(raw: object) -> str | None:
    """Why ``raw`` can never name something inside the files root, or ``None``."""
    if not isinstance(raw, str):
        return f"a path must be a string, not {type(raw).__name__}"
    if "\x00" in raw:
        return f"{raw!r} contains a NUL byte"
    if os.path.isabs(raw):
        return None  # checked against the root at run time
    parts = PurePosixPath(os.path.normpath(raw.replace("\\", "/"))).parts
    if parts[:1] == ("..",):
        return f"{raw!r} climbs out of the files root with '..'"
    return None


def check_config_path(
    config: Mapping[str, Any], key: str = "path", *, allow_root: bool = True
) -> None:
    """Construction-time check: a statically bad path is ``file.invalid_path`` already.

    ``allow_root=False`` (file blocks) also refuses ``""`` and ``"."``: the root is a
    directory, never a file.
    """
    raw = config.get(key)
    problem = static_problem(raw)
    if problem is None and not allow_root and os.path.normpath(str(raw)) == ".":
        problem = f"{raw!r} names the files root itself, not a file"
    if problem is not None:
        raise sdk.InvalidBlockConfig(f"{key}: {problem}", code=INVALID_PATH)


def _invalid(message: str, relative: str, root: Path) -> sdk.BlockError:
    return sdk.BlockError(
        INVALID_PATH, message, details={"path": relative, "files_root": str(root)}
    )


def _lexically_inside(path: Path, *roots: Path) -> str | None:
    """``path`` relative to the first of ``roots`` that contains it, or ``None``."""
    for root in roots:
        if path == root or path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return None


def confine(root: Path, raw: str) -> Confined:
    """Resolve ``raw`` under ``root``; raise ``file.invalid_path`` if it leaves the root.

    Resolution follows symlinks as far as they exist, so a link to the outside is caught
    whether or not its target exists. A missing root is ``file.not_found``.
    """
    problem = static_problem(raw)
    if problem is not None:
        raise _invalid(problem, str(raw), root)
    with os_errors(str(raw), root):
        base = root.resolve()
    if not base.is_dir():
        raise sdk.BlockError(
            NOT_FOUND,
            f"the files root {str(root)!r} does not exist or is not a directory "
            "(set ORCHESTRATOR_BLOCKS_FILES_ROOT)",
            details={"path": raw, "files_root": str(root)},
        )
    if os.path.isabs(raw):
        normal = Path(os.path.normpath(raw))
        relative = _lexically_inside(normal, base, Path(os.path.abspath(root)))
        if relative is None:
            raise _invalid(f"{raw!r} is outside the files root {str(base)!r}", raw, base)
        candidate = normal
    else:
        relative = Path(os.path.normpath(raw)).as_posix() if raw else "."
        candidate = base / raw
    with os_errors(relative, base):
        try:
            resolved = candidate.resolve()
        except RuntimeError:  # Python 3.11 reports symlink loops this way
            raise _invalid(f"{relative!r} is a symlink loop", relative, base) from None
    if resolved != base and not resolved.is_relative_to(base):
        raise _invalid(
            f"{relative!r} resolves outside the files root (through a symlink)", relative, base
        )
    return Confined(root=base, path=resolved, relative=relative)


_PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}
_INVALID_PATH_ERRNOS = {errno.ELOOP, errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR}


def _classify(exc: OSError, relative: str, root: Path) -> sdk.BlockError:
    number = exc.errno
    name = errno.errorcode.get(number, str(number)) if number is not None else None
    reason = exc.strerror or str(exc)
    disposition = sdk.RetryDisposition.NEVER
    if isinstance(exc, FileNotFoundError) or number == errno.ENOENT:
        code, message = NOT_FOUND, f"{relative!r} does not exist"
    elif isinstance(exc, PermissionError) or number in _PERMISSION_ERRNOS:
        code, message = PERMISSION_DENIED, f"{relative!r}: permission denied ({reason})"
    elif isinstance(exc, IsADirectoryError):
        code, message = INVALID_PATH, f"{relative!r} is a directory, not a file"
    elif isinstance(exc, NotADirectoryError | FileExistsError):
        code, message = INVALID_PATH, f"{relative!r} (or a parent of it) is not a directory"
    elif number == errno.ELOOP:
        code, message = INVALID_PATH, f"{relative!r} is (or became) a symlink; not followed"
    elif number in _INVALID_PATH_ERRNOS:
        code, message = INVALID_PATH, f"{relative!r}: {reason}"
    else:
        code, message = IO, f"{relative!r}: {reason}"
        disposition = sdk.RetryDisposition.BACKOFF
    return sdk.BlockError(
        code,
        message,
        retry_disposition=disposition,
        provider_status=name,
        details={"path": relative, "files_root": str(root), "errno": name},
    )


@contextlib.contextmanager
def os_errors(relative: str, root: Path) -> Iterator[None]:
    """Translate ``OSError`` raised inside into the family's codes (the one boundary)."""
    try:
        yield
    except OSError as exc:
        raise _classify(exc, relative, root) from None
