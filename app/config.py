"""The config-file keys the built-in features own, validated (``config.yaml``)::

    approver: mike                      # the one person who may approve proposals
    alert_email: ops@example.com        # where alert_on_final_failure alerts go
    db_url: postgresql://ops@127.0.0.1/orchestrator   # default: SQLite in the home dir
    databases:                          # named databases for SQL blocks (besides `local`)
      crm: sqlite:////srv/crm/mirror.db
    verify_minutes: [8, 38]             # when `serve` runs due verify checks
    approval_window_minutes: 60         # how long a proposal stays open

The kernel parses the file into ``settings.file``; :func:`app_config` validates these keys
(a mistake is one clear error naming the key: ``config.yaml: databases.crm: ...``) and
applies the environment over them (``ORCHESTRATOR_BLOCKS_APPROVER`` wins over ``approver:``,
``ORCHESTRATOR_BLOCKS_ALERT_EMAIL`` over ``alert_email:``).
Keys other parts own (a family's ``smtp_url``) pass through untouched.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator_blocks.kernel.config import ConfigError, config_path
from orchestrator_blocks.sdk import Settings

__all__ = ["AppConfig", "app_config"]


class AppConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    approver: str | None = None
    alert_email: str | None = None
    db_url: str | None = None
    databases: dict[str, str] = Field(default_factory=dict)
    verify_minutes: list[int] = Field(default_factory=lambda: [8, 38])
    approval_window_minutes: float = 60

    @field_validator("verify_minutes")
    @classmethod
    def _minutes(cls, value: list[int]) -> list[int]:
        if not value or any(not 0 <= m <= 59 for m in value):
            raise ValueError("give minutes past the hour between 0 and 59, e.g. [8, 38]")
        return sorted(set(value))

    @field_validator("alert_email")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            local, at, domain = value.strip().rpartition("@")
            if not (at and local and domain) or any(c.isspace() for c in value.strip()):
                raise ValueError(f"expected an email address such as ops@example.com: {value!r}")
            value = value.strip()
        return value

    @field_validator("databases")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        if "local" in value:
            raise ValueError("'local' is the engine's own store; pick another name")
        return value


def app_config(settings: Settings) -> AppConfig:
    """The built-in features' configuration: the file's keys, the environment over them."""
    raw: dict[str, Any] = dict(settings.file)
    for key in ("approver", "alert_email", "db_url", "approval_window_minutes"):
        value = settings.env.get(f"ORCHESTRATOR_BLOCKS_{key.upper()}")
        if value:
            raw[key] = value
    try:
        return AppConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{config_path(settings.env).name}: {where}: {first['msg']}") from None
