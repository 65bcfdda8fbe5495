"""The SDK's confinement to the files root, shared by the file and email families."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator_blocks.sdk import files


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "root"
    (base / "docs").mkdir(parents=True)
    (base / "docs" / "a.txt").write_bytes(b"a" * 10)
    (base / "b.pdf").write_bytes(b"b" * 20)
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", base / "escape.txt")
    os.symlink(base / "docs" / "a.txt", base / "inside_link.txt")
    return base


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("../secret.txt", "invalid"),
        ("docs/../../secret.txt", "invalid"),
        ("a\x00b", "invalid"),
        ("/etc/passwd", "outside"),
        ("escape.txt", "outside"),
        ("missing.txt", "not_found"),
        ("docs", "not_a_file"),
    ],
)
def test_a_path_that_is_not_a_file_under_the_root_is_refused(
    root: Path, raw: str, reason: str
) -> None:
    with pytest.raises(files.PathRefused) as caught:
        files.check_files(root, [raw])
    assert caught.value.reason == reason


def test_files_inside_the_root_are_resolved_and_sized(root: Path) -> None:
    checked = files.check_files(root, ["docs/a.txt", str(root / "b.pdf"), "inside_link.txt"])
    assert [(c.relative, c.size) for c in checked] == [
        ("docs/a.txt", 10),
        ("b.pdf", 20),
        ("inside_link.txt", 10),
    ]
    assert checked[2].path == (root / "docs" / "a.txt").resolve()
    assert files.read_confined(checked[0]) == b"a" * 10


def test_the_limits_per_file_and_in_all(root: Path) -> None:
    with pytest.raises(files.PathRefused, match="limit per file") as one:
        files.check_files(root, ["b.pdf"], max_file_bytes=19)
    assert one.value.reason == "too_large"
    with pytest.raises(files.PathRefused, match="together") as both:
        files.check_files(root, ["docs/a.txt", "b.pdf"], max_total_bytes=29)
    assert both.value.reason == "too_large"
    assert files.MAX_FILE_BYTES == 10 * 1024 * 1024
    assert files.MAX_TOTAL_BYTES == 20 * 1024 * 1024


def test_a_missing_root_is_named(tmp_path: Path) -> None:
    with pytest.raises(files.PathRefused, match="FILES_ROOT") as caught:
        files.confine(tmp_path / "nowhere", "a.txt")
    assert caught.value.reason == "root_missing"
