"""Configuration: ``ORCHESTRATOR_BLOCKS_*`` environment variables over an optional YAML file.

The file is ``$ORCHESTRATOR_BLOCKS_CONFIG`` or ``$ORCHESTRATOR_BLOCKS_HOME/config.yaml``::

    approver: mike                      # the one person who may approve proposals
    db_url: postgresql://ops@127.0.0.1/orchestrator   # default: SQLite in the home dir
    databases:                          # named databases for SQL blocks (besides `local`)
      crm: sqlite:////srv/crm/mirror.db
    verify_minutes: [8, 38]             # when `serve` runs due verify checks

An environment variable wins over the file. A mistake in the file is one clear error that
names the key (``config.yaml: databases.crm: ...``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from orchestrator_blocks.sdk import OrchestratorError, Settings

__all__ = ["ConfigError", "ConfigFile", "config_path", "load_config", "load_settings"]


class ConfigError(OrchestratorError):
    code = "config.invalid"


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approver: str | None = None
    db_url: str | None = None
    databases: dict[str, str] = Field(default_factory=dict)
    verify_minutes: list[int] = Field(default_factory=lambda: [8, 38])
    approval_window_minutes: int = 60

    @field_validator("verify_minutes")
    @classmethod
    def _minutes(cls, value: list[int]) -> list[int]:
        if not value or any(not 0 <= m <= 59 for m in value):
            raise ValueError("give minutes past the hour between 0 and 59, e.g. [8, 38]")
        return sorted(set(value))

    @field_validator("databases")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        if "local" in value:
            raise ValueError("'local' is the engine's own store; pick another name")
        return value


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    explicit = env.get("ORCHESTRATOR_BLOCKS_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    home = env.get("ORCHESTRATOR_BLOCKS_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".orchestrator-blocks"
    return base / "config.yaml"


def load_config(env: Mapping[str, str] | None = None) -> ConfigFile:
    """The config file's contents (defaults when there is no file)."""
    path = config_path(env)
    if not path.is_file():
        if (env or os.environ).get("ORCHESTRATOR_BLOCKS_CONFIG"):
            raise ConfigError(f"{path}: no such config file (ORCHESTRATOR_BLOCKS_CONFIG)")
        return ConfigFile()
    import yaml

    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return ConfigFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path.name}: {where}: {first['msg']}") from None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment, completed by the config file."""
    env = os.environ if env is None else env
    settings = Settings.from_env(env)
    config = load_config(env)
    changes: dict[str, Any] = {}
    if settings.approver is None and config.approver:
        changes["approver"] = config.approver
    if settings.db_url is None and config.db_url:
        changes["db_url"] = SecretStr(config.db_url)
    if config.databases:
        changes["databases"] = {k: SecretStr(v) for k, v in config.databases.items()}
    if not changes:
        return settings
    from dataclasses import replace

    return replace(settings, **changes)
