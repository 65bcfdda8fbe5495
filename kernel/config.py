"""Settings for a run: environment over the config file (read by ``sdk.config_file``)."""

from __future__ import annotations

from orchestrator_blocks.sdk.config_file import (
    ConfigError,
    config_path,
    load_settings,
    read_config_file,
)

__all__ = ["ConfigError", "config_path", "load_settings", "read_config_file"]
