"""Where a block's credentials come from: ``ctx.secret(name)``.

A secret named ``crm_token`` is, in this order:

1. the environment variable ``ORCHESTRATOR_BLOCKS_SECRET_CRM_TOKEN`` (as the run's settings
   saw it: the test harness's ``env=`` is honoured, the process environment is not read
   behind its back);
2. the line ``CRM_TOKEN=...`` of ``$ORCHESTRATOR_BLOCKS_HOME/secrets.env``, a file only its
   owner may read (mode ``0600``): a file that the group or others can read is refused,
   whatever it holds.

The value comes back as a ``pydantic.SecretStr`` (it prints as ``**********``) and is
registered with the SDK's redactor (:func:`~.redaction.register_secret`), so a block that
logs it by mistake, raises it in an error or returns it to a block that does, leaks nothing
to the logs, the store or the spans. A missing secret is :class:`~.errors.SecretNotFound`,
naming the variable and the file that were looked at.

``secrets.env`` holds one ``NAME=value`` per line; blank lines and lines starting with ``#``
are skipped, a leading ``export`` is allowed, and one pair of matching quotes around the
value is removed. Names are matched without regard to case.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InsecureSecretsFile, SecretNotFound
from .redaction import register_secret, register_url_credentials
from .settings import ENV_PREFIX, Settings

if TYPE_CHECKING:
    from pydantic import SecretStr

__all__ = ["SECRETS_FILE", "SECRET_ENV_PREFIX", "read_secret", "secret_env_name"]

SECRET_ENV_PREFIX = ENV_PREFIX + "SECRET_"
SECRETS_FILE = "secrets.env"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINE = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=(?P<value>.*)$")


def secret_env_name(name: str) -> str:
    """``crm_token`` -> ``ORCHESTRATOR_BLOCKS_SECRET_CRM_TOKEN``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"secret names are identifiers (letters, digits, '_'), got {name!r}; "
            "e.g. ctx.secret('crm_token')"
        )
    return SECRET_ENV_PREFIX + name.upper()


def read_secret(settings: Settings, name: str) -> SecretStr:
    """The secret ``name`` for a run with ``settings`` (see the module docstring)."""
    variable = secret_env_name(name)
    raw = settings.env.get(variable)
    path = settings.home / SECRETS_FILE
    where = "not set"
    if not raw:
        raw, where = _from_file(path, name.upper())
    if not raw:
        raise SecretNotFound(
            f"secret {name!r} is not set: looked for {variable} in the environment and "
            f"{name.upper()}= in {path} ({where}); set one of them"
        )
    register_secret(raw)
    if "://" in raw:
        register_url_credentials(raw)
    from pydantic import SecretStr  # (pydantic is imported when a secret is read)

    return SecretStr(raw)


def _from_file(path: Path, key: str) -> tuple[str | None, str]:
    """``(value, why not)`` for ``key`` in the secrets file at ``path``."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None, "no such file"
    if os.name == "posix" and info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise InsecureSecretsFile(
            f"{path} can be read by other users (mode {mode:04o}); secrets files must be "
            f"private to their owner: run `chmod 600 {path}`"
        )
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None or match["name"].upper() != key:
            continue
        value = match["value"].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        return (value, "found") if value else (None, "empty there")
    return None, "not in the file"
