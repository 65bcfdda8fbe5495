"""``file_read``, ``file_write`` and ``list_directory``: files under the files root.

All three are confined to ``ORCHESTRATOR_BLOCKS_FILES_ROOT`` (see :mod:`.paths`) and follow
contract §6.3: no timeout, no retries. The I/O runs in a worker thread so a slow disk never
stalls other branches of the run.

What a caller may rely on:

* ``file_write`` in ``append`` mode hands the whole payload to the OS in **one**
  ``write(2)`` on an ``O_APPEND`` descriptor, so concurrent appenders (threads, processes,
  other runs) never interleave inside one payload. ``overwrite`` writes a temporary file in
  the same directory and renames it over the target (``os.replace``): readers see the old
  content or the new one, never a mix. Missing parent directories are created (inside the
  root only).
* What is written: ``Text`` as UTF-8, unchanged (no newline added); ``Bytes`` as is;
  ``Json`` as one compact JSON line followed by ``"\\n"`` (so appends make a JSON Lines
  file); ``Empty`` as nothing (the file is created, or truncated in ``overwrite`` mode).
* ``file_read`` outputs ``Text`` when the file is valid UTF-8, else ``Bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator_blocks import sdk

from .codes import FAMILY, IO
from .paths import Confined, check_config_path, confine, os_errors

__all__ = ["file_read", "file_write", "list_directory"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO in the root must never hang the run
MODES = ("append", "overwrite")


def _confined(ctx: sdk.RunContext, path: str) -> Confined:
    return confine(Path(ctx.settings.files_root), path)


# -- file_read ---------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def _validate_file_path(config: dict[str, Any]) -> None:
    check_config_path(config, allow_root=False)


@FAMILY.block_type(
    "file_read",
    validate=_validate_file_path,
)
async def file_read(ctx: sdk.RunContext, value: sdk.Value, path: str) -> sdk.Value:
    """Read a file under the files root: ``Text`` if it is UTF-8, else ``Bytes``.

    ``path`` is relative to ``ORCHESTRATOR_BLOCKS_FILES_ROOT`` (an absolute path must lie
    inside it). The input is ignored. Codes: ``file.not_found``, ``file.permission_denied``,
    ``file.invalid_path`` (outside the root, a directory, a symlink loop), ``file.io``.
    """
    target = _confined(ctx, path)
    with os_errors(target.relative, target.root):
        data = await asyncio.to_thread(_read_bytes, target.path)
    try:
        return sdk.Text(data.decode("utf-8"))
    except UnicodeDecodeError:
        return sdk.Bytes(data)


# -- file_write --------------------------------------------------------------------------


def _encode(value: sdk.Value, relative: str) -> bytes:
    try:
        if isinstance(value, sdk.Bytes):
            return value.value
        if isinstance(value, sdk.Json):
            line = json.dumps(sdk.to_jsonable(value.value), ensure_ascii=False, allow_nan=False)
            return (line + "\n").encode("utf-8")
        return value.text().encode("utf-8")
    except (UnicodeEncodeError, ValueError) as exc:
        raise sdk.BlockError(
            IO,
            f"cannot encode the {value.kind} input for {relative!r}: {exc}",
            retry_disposition=sdk.RetryDisposition.NEVER,
            details={"path": relative, "input_kind": value.kind},
        ) from None


def _append(path: Path, data: bytes) -> int:
    """One ``write(2)`` of the whole payload on an ``O_APPEND`` descriptor (atomic append)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC | _NONBLOCK
    fd = os.open(path, flags, 0o666)
    try:
        written = os.write(fd, data) if data else 0
    finally:
        os.close(fd)
    if written != len(data):
        raise _ShortAppend(written)
    return written


class _ShortAppend(Exception):
    def __init__(self, written: int) -> None:
        super().__init__(written)
        self.written = written


def _overwrite(path: Path, data: bytes) -> int:
    """Write a sibling temporary file, then rename it over ``path`` (atomic replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            with contextlib.suppress(FileNotFoundError):
                old = os.stat(path, follow_symlinks=False)
                if stat.S_ISREG(old.st_mode) and os.chmod in os.supports_fd:
                    os.chmod(fd, stat.S_IMODE(old.st_mode))  # keep the target's permissions
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return len(data)


def _validate_write(config: dict[str, Any]) -> None:
    check_config_path(config, allow_root=False)
    if config["mode"] not in MODES:
        raise ValueError(f"mode must be 'append' or 'overwrite', got {config['mode']!r}")


@FAMILY.block_type(
    "file_write",
    side_effects=[sdk.SideEffect("File", "files under ORCHESTRATOR_BLOCKS_FILES_ROOT", "write")],
    validate=_validate_write,
)
async def file_write(
    ctx: sdk.RunContext, value: sdk.Value, path: str, *, mode: str = "append"
) -> sdk.Value:
    """Write the input to a file under the files root; output ``{"path", "bytes"}``.

    ``mode="append"`` (default) adds the payload in one atomic write, so concurrent
    appenders never interleave; ``mode="overwrite"`` replaces the file atomically (temp
    file + rename). ``Text`` is written as is, ``Bytes`` as is, ``Json`` as one JSON line
    plus ``"\\n"``. Parent directories are created inside the root.
    """
    target = _confined(ctx, path)
    data = _encode(value, target.relative)
    write = _append if mode == "append" else _overwrite
    try:
        with os_errors(target.relative, target.root):
            written = await asyncio.to_thread(write, target.path, data)
    except _ShortAppend as short:
        raise sdk.BlockError(
            IO,
            f"only {short.written} of {len(data)} bytes were appended to {target.relative!r}; "
            "not retried, a retry could duplicate them",
            retry_disposition=sdk.RetryDisposition.NEVER,
            details={"path": target.relative, "written": short.written, "size": len(data)},
        ) from None
    ctx.log.info("file.written", path=target.relative, mode=mode, bytes=written)
    return sdk.Json({"path": target.relative, "bytes": written})


# -- list_directory ----------------------------------------------------------------------


def _entry(entry: os.DirEntry[str]) -> dict[str, Any] | None:
    try:
        if entry.is_symlink():
            return {"name": entry.name, "type": "symlink", "size": None}
        if entry.is_dir(follow_symlinks=False):
            return {"name": entry.name, "type": "directory", "size": None}
        if entry.is_file(follow_symlinks=False):
            size = entry.stat(follow_symlinks=False).st_size
            return {"name": entry.name, "type": "file", "size": size}
        return {"name": entry.name, "type": "other", "size": None}
    except FileNotFoundError:  # removed while we listed
        return None


def _list(path: Path) -> list[dict[str, Any]]:
    with os.scandir(path) as entries:
        found = [e for e in map(_entry, entries) if e is not None]
    return sorted(found, key=lambda e: e["name"])


def _validate_dir(config: Mapping[str, Any]) -> None:
    check_config_path(config)


@FAMILY.block_type(
    "list_directory",
    validate=_validate_dir,
)
async def list_directory(ctx: sdk.RunContext, value: sdk.Value, path: str = ".") -> sdk.Value:
    """List a directory under the files root: a ``Json`` list of ``{name, type, size}``.

    Sorted by name; ``type`` is ``file``, ``directory``, ``symlink`` (never followed) or
    ``other``; ``size`` is the byte size of files and ``null`` otherwise. The input is
    ignored. A file instead of a directory is ``file.invalid_path``.
    """
    target = _confined(ctx, path)
    with os_errors(target.relative, target.root):
        return sdk.Json(await asyncio.to_thread(_list, target.path))


BLOCK_TYPES = (file_read, file_write, list_directory)
