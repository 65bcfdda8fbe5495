"""The examples run through the same runtime path as everything else (contract §12 item 8)."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_custom_block_example_runs_from_the_cli(cli) -> None:
    res = cli("run", str(EXAMPLES / "custom_block.py"))
    assert res.code == 0, res
    assert "hot leads: ana@example.com, cy@example.com" in res.out
    assert "lead_score" in res.out
