"""Files under the files root: the one confinement check every family uses.

Every path a block reads, writes or attaches lives under ``ctx.settings.files_root``
(``ORCHESTRATOR_BLOCKS_FILES_ROOT``, default: the working directory). Two checks, because
the root is only known at run time and symlinks can change between construction and run:

* :func:`static_problem`: a relative path that climbs out with ``..`` (``../x``,
  ``a/../../x``) or a NUL byte can never be valid, so a family can refuse it when a block
  is built;
* :func:`confine`: an absolute path must lie inside the root *as written* (nothing
  outside is even looked at), and the *resolved* path (every symlink followed, including
  the not-yet-existing file's parents) must be the root or below it.

A family opens the resolved path with ``O_NOFOLLOW`` (:func:`read_confined` does), so a
symlink planted at the last component after the check is refused too.

:func:`check_files` is the whole check of a list of files to read or attach (a workflow's
``files`` input, an email's attachments): confined, existing regular files, within
:data:`MAX_FILE_BYTES` each and :data:`MAX_TOTAL_BYTES` together.

Refusals raise :class:`PathRefused` (a ``ValueError``) whose ``reason`` says why; an
``OSError`` met while resolving propagates. Each family translates both into its own codes
(``file.invalid_path``, ``email.invalid_request``, ...): the helper is shared, the codes
are not.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "Confined",
    "PathRefused",
    "RefusalReason",
    "check_files",
    "confine",
    "read_confined",
    "static_problem",
]

MAX_FILE_BYTES = 10 * 1024 * 1024
"""The largest file :func:`check_files` accepts: 10 MiB (an email attachment's limit)."""
MAX_TOTAL_BYTES = 20 * 1024 * 1024
"""The most bytes :func:`check_files` accepts for all files together: 20 MiB (one email's
attachments, before encoding)."""

RefusalReason = Literal[
    "invalid", "outside", "root_missing", "not_found", "not_a_file", "too_large"
]


class PathRefused(ValueError):
    """A path that cannot be used: ``reason`` is one of :data:`RefusalReason`.

    ``relative`` is the path as the user wrote it, normalised and relative to the root
    (for messages); ``root`` the files root as resolved (or as given when it is missing).
    """

    def __init__(self, message: str, *, reason: RefusalReason, relative: str, root: Path) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason
        self.relative = relative
        self.root = root


@dataclass(frozen=True, slots=True)
class Confined:
    """A path checked against the root: ``path`` is resolved, ``relative`` is for humans
    (the normalised path as the user wrote it, relative to the root, ``/``-separated).
    ``size`` is filled by :func:`check_files` (``None`` otherwise)."""

    root: Path
    path: Path
    relative: str
    size: int | None = None


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


def _lexically_inside(path: Path, *roots: Path) -> str | None:
    """``path`` relative to the first of ``roots`` that contains it, or ``None``."""
    for root in roots:
        if path == root or path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return None


def confine(root: Path, raw: str) -> Confined:
    """Resolve ``raw`` under ``root``; raise :class:`PathRefused` if it leaves the root.

    Resolution follows symlinks as far as they exist, so a link to the outside is caught
    whether or not its target exists. A missing root is refused with reason
    ``root_missing``; a symlink loop with ``invalid``. ``OSError`` raised while resolving
    (a permission problem) propagates for the caller to classify.
    """
    problem = static_problem(raw)
    if problem is not None:
        raise PathRefused(problem, reason="invalid", relative=str(raw), root=root)
    base = root.resolve()
    if not base.is_dir():
        raise PathRefused(
            f"the files root {str(root)!r} does not exist or is not a directory "
            "(set ORCHESTRATOR_BLOCKS_FILES_ROOT)",
            reason="root_missing",
            relative=raw,
            root=root,
        )
    if os.path.isabs(raw):
        normal = Path(os.path.normpath(raw))
        relative = _lexically_inside(normal, base, Path(os.path.abspath(root)))
        if relative is None:
            raise PathRefused(
                f"{raw!r} is outside the files root {str(base)!r}",
                reason="outside",
                relative=raw,
                root=base,
            )
        candidate = normal
    else:
        relative = Path(os.path.normpath(raw)).as_posix() if raw else "."
        candidate = base / raw
    try:
        resolved = candidate.resolve()
    except RuntimeError:  # Python 3.11 reports symlink loops this way
        raise PathRefused(
            f"{relative!r} is a symlink loop", reason="invalid", relative=relative, root=base
        ) from None
    if resolved != base and not resolved.is_relative_to(base):
        raise PathRefused(
            f"{relative!r} resolves outside the files root (through a symlink)",
            reason="outside",
            relative=relative,
            root=base,
        )
    return Confined(root=base, path=resolved, relative=relative)


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def check_files(
    root: Path,
    paths: Iterable[str],
    *,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> list[Confined]:
    """Each of ``paths`` confined to ``root``, an existing regular file, at most
    ``max_file_bytes``, all of them together at most ``max_total_bytes``.

    Raises :class:`PathRefused` for the first path that fails (``not_found``,
    ``not_a_file``, ``too_large`` besides :func:`confine`'s reasons); an ``OSError`` other
    than "does not exist" propagates.
    """
    checked: list[Confined] = []
    total = 0
    for raw in paths:
        confined = confine(root, raw)
        try:
            info = confined.path.stat()
        except FileNotFoundError:
            raise PathRefused(
                f"{confined.relative!r} does not exist under the files root {str(confined.root)!r}",
                reason="not_found",
                relative=confined.relative,
                root=confined.root,
            ) from None
        if not stat.S_ISREG(info.st_mode):
            raise PathRefused(
                f"{confined.relative!r} is not a regular file",
                reason="not_a_file",
                relative=confined.relative,
                root=confined.root,
            )
        if info.st_size > max_file_bytes:
            raise PathRefused(
                f"{confined.relative!r} is {info.st_size} bytes; the limit per file is "
                f"{_mib(max_file_bytes)}",
                reason="too_large",
                relative=confined.relative,
                root=confined.root,
            )
        total += info.st_size
        if total > max_total_bytes:
            raise PathRefused(
                f"the files come to more than {_mib(max_total_bytes)} together (at "
                f"{confined.relative!r}); send fewer or smaller files",
                reason="too_large",
                relative=confined.relative,
                root=confined.root,
            )
        checked.append(
            Confined(
                root=confined.root,
                path=confined.path,
                relative=confined.relative,
                size=info.st_size,
            )
        )
    return checked


def read_confined(confined: Confined, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The content of a confined file, opened without following a symlink at its last
    component (one planted after the check is refused: ``OSError`` ``ELOOP``). Raises
    :class:`PathRefused` (``too_large``) when the file grew past ``max_bytes``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(confined.path, flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise PathRefused(
                f"{confined.relative!r} is not a regular file",
                reason="not_a_file",
                relative=confined.relative,
                root=confined.root,
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PathRefused(
            f"{confined.relative!r} is larger than {_mib(max_bytes)}",
            reason="too_large",
            relative=confined.relative,
            root=confined.root,
        )
    return data
