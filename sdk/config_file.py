"""Settings for a run: ``ORCHESTRATOR_BLOCKS_*`` environment variables over a YAML file.

Where the kernel and the app load the settings of a run from (``kernel.config`` re-exports
this module).

The file is ``$ORCHESTRATOR_BLOCKS_CONFIG`` or ``$ORCHESTRATOR_BLOCKS_HOME/config.yaml``; its
top-level keys become ``settings.file``. The kernel only parses it: each key belongs to the
part that reads it (``settings.get("smtp_url")``), which validates it. An environment
variable wins over the file. A file that is not valid YAML is one clear error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import OrchestratorError
from .settings import Settings

__all__ = ["ConfigError", "config_path", "load_settings", "read_config_file"]


class ConfigError(OrchestratorError):
    code = "config.invalid"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    explicit = env.get("ORCHESTRATOR_BLOCKS_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    home = env.get("ORCHESTRATOR_BLOCKS_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".orchestrator-blocks"
    return base / "config.yaml"


def read_config_file(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config file's top-level mapping (empty when there is no file)."""
    env = os.environ if env is None else env
    path = config_path(env)
    if not path.is_file():
        if env.get("ORCHESTRATOR_BLOCKS_CONFIG"):
            raise ConfigError(f"{path}: no such config file (ORCHESTRATOR_BLOCKS_CONFIG)")
        return {}
    import yaml

    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment, completed by the config file."""
    env = os.environ if env is None else env
    return Settings.from_env(env, read_config_file(env))
