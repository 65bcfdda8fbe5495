"""Confinement to the files root, and the family's one mapping of ``OSError`` to codes.

Every path a file block touches lives under ``ctx.settings.files_root``
(``ORCHESTRATOR_BLOCKS_FILES_ROOT``, default: the working directory). The checks are the
SDK's (:mod:`orchestrator_blocks.sdk.files`, shared with the email family's attachments);
this module gives them the family's codes:

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
from pathlib import Path
from typing import Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import files
from orchestrator_blocks.sdk.files import Confined, static_problem

from .codes import INVALID_PATH, IO, NOT_FOUND, PERMISSION_DENIED

__all__ = ["Confined", "check_config_path", "confine", "os_errors", "static_problem"]


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


def confine(root: Path, raw: str) -> Confined:
    """Resolve ``raw`` under ``root``; raise ``file.invalid_path`` if it leaves the root.

    Resolution follows symlinks as far as they exist, so a link to the outside is caught
    whether or not its target exists. A missing root is ``file.not_found``.
    """
    try:
        with os_errors(str(raw), root):
            return files.confine(root, raw)
    except files.PathRefused as exc:
        code = NOT_FOUND if exc.reason == "root_missing" else INVALID_PATH
        raise sdk.BlockError(
            code, str(exc), details={"path": exc.relative, "files_root": str(exc.root)}
        ) from None


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
