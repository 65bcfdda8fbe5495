"""Fixtures the packaging tests share: one wheel of this checkout per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.venvs import build_wheel


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel`` of this checkout, built once for every test that installs it."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))
