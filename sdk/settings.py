"""Configuration a run sees: ``ORCHESTRATOR_BLOCKS_*`` environment variables over a config file.

Only what every part needs is a field (the home directory and the files root). Everything
else is looked up by name by the part that owns it, so a family's settings are its own:
the email family asks for ``settings.secret("SMTP_URL")``, the store for
``settings.secret("DB_URL")``. A name is read from the environment as
``ORCHESTRATOR_BLOCKS_<NAME>`` first, then from the config file as ``<name>`` in lower case.

``repr(settings)`` shows names, never values: configuration often holds credentials. Every
value read through :meth:`Settings.secret` (of a URL: its credentials), and the credentials
of every URL read through :meth:`Settings.get`, are registered with the SDK's redactor, so
no sink shows them. A
block's own credentials are read with ``ctx.secret(name)`` (see :mod:`.credentials`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .redaction import register_secret, register_url_credentials

if TYPE_CHECKING:
    from pydantic import SecretStr

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "ORCHESTRATOR_BLOCKS_"


def _env_path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(ENV_PREFIX + name)
    return Path(raw).expanduser() if raw else default


@dataclass(frozen=True)
class Settings:
    """The home directory, the files root, and every named setting.

    ``env`` holds the ``ORCHESTRATOR_BLOCKS_*`` variables (full names); ``file`` holds the
    config file's top-level keys. Read them with :meth:`get`, :meth:`secret` and
    :meth:`section` rather than directly, so the environment wins over the file everywhere.
    """

    home: Path
    files_root: Path
    env: Mapping[str, str] = field(default_factory=dict)
    file: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, file: Mapping[str, Any] | None = None
    ) -> Settings:
        """Settings from ``env`` (default: the process environment) and a parsed config file."""
        env = os.environ if env is None else env
        return cls(
            home=_env_path(env, "HOME", Path.home() / ".orchestrator-blocks"),
            files_root=_env_path(env, "FILES_ROOT", Path.cwd()),
            env={k: v for k, v in env.items() if k.startswith(ENV_PREFIX)},
            file=dict(file or {}),
        )

    def get(self, name: str, default: str | None = None) -> str | None:
        """``ORCHESTRATOR_BLOCKS_<NAME>``, else the file's ``<name>``, else ``default``.

        Empty values count as unset. Non-string file values are returned as text. A URL's
        credentials (``https://user:password@...``, ``?access_token=...``) are registered
        with the redactor as it is read.
        """
        raw = self.env.get(ENV_PREFIX + name.upper())
        if not raw:
            value = self.file.get(name.lower())
            if value is None or value == "":
                return default
            raw = str(value)
        if "://" in raw:
            register_url_credentials(raw)
        return raw

    def secret(self, name: str) -> SecretStr | None:
        """Like :meth:`get`, wrapped so it prints as ``**********`` wherever it travels, and
        registered with the redactor so that no log line, stored row or span shows it
        either: the whole value, or for a URL (``SMTP_URL``, ``DB_URL``) its credentials
        (the server's address stays readable in messages)."""
        raw = self.get(name)
        if not raw:
            return None
        if "://" not in raw:
            register_secret(raw)
        from pydantic import SecretStr  # (pydantic is imported when a secret is read)

        return SecretStr(raw)

    def section(self, name: str) -> Mapping[str, Any]:
        """A nested mapping of the config file (``databases:``); empty when absent."""
        value = self.file.get(name.lower())
        return value if isinstance(value, Mapping) else {}

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    def __repr__(self) -> str:
        names = sorted({*self.env, *(str(k) for k in self.file)})
        return (
            f"Settings(home={str(self.home)!r}, files_root={str(self.files_root)!r}, "
            f"names={names!r})"
        )
