"""file_read, file_write, list_directory: what they read and write, on real files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks.kernel.plugin_host import default_host
from orchestrator_blocks.sdk.testing import check_block_type

FILE_TYPES = ["file_read", "file_write", "list_directory"]
FILE_CODES = {"file.not_found", "file.permission_denied", "file.invalid_path", "file.io"}


@pytest.mark.parametrize("type_id", FILE_TYPES)
def test_types_pass_the_sdk_contract_with_contract_defaults(type_id: str) -> None:
    bt = default_host().get(type_id)
    check_block_type(bt)
    assert bt.domain == "file"
    assert bt.codes == FILE_CODES
    # contract §6.3: file blocks have no timeout and no retries
    assert (bt.default_policy.retries, bt.default_policy.timeout_ms) == (0, None)


@pytest.mark.parametrize(
    ("type_id", "writes"), [("file_read", False), ("file_write", True), ("list_directory", False)]
)
def test_only_file_write_declares_a_side_effect(type_id: str, writes: bool) -> None:
    bt = default_host().get(type_id)
    assert bt.writes is writes
    if writes:
        assert [e.action for e in bt.side_effects] == ["write"]
        assert bt.is_write(bt.configure("out.txt"))


# -- file_write ---------------------------------------------------------------------------

PAYLOADS = [
    # (input, bytes written): Text as is, Json as one JSON line + "\n", Bytes as is
    ("héllo", "héllo".encode()),
    ("two\nlines\n", b"two\nlines\n"),
    ({"a": "é", "n": [1, 2]}, '{"a": "é", "n": [1, 2]}\n'.encode()),
    ([1, "x"], b'[1, "x"]\n'),
    (b"\x00\xff raw", b"\x00\xff raw"),
]


@pytest.mark.parametrize(("payload", "expected"), PAYLOADS)
def test_append_writes_the_input_after_what_is_there(run_one, root: Path, payload, expected):
    (root / "log.txt").write_bytes(b"first\n")
    block = ob.Block.file_write("log.txt")
    result = run_one(block, payload)
    assert result.ok, result.error
    assert (root / "log.txt").read_bytes() == b"first\n" + expected
    assert result.output(block) == {"path": "log.txt", "bytes": len(expected)}


@pytest.mark.parametrize(("payload", "expected"), PAYLOADS)
def test_overwrite_replaces_the_content(run_one, root: Path, payload, expected):
    (root / "state.json").write_bytes(b"old content that is longer than the new one\n" * 10)
    block = ob.Block.file_write("state.json", mode="overwrite")
    result = run_one(block, payload)
    assert result.ok, result.error
    assert (root / "state.json").read_bytes() == expected
    assert result.output(block) == {"path": "state.json", "bytes": len(expected)}


def test_json_appends_make_a_json_lines_file(run_one, root: Path) -> None:
    block = ob.Block.file_write("events.jsonl")
    for n in range(3):
        assert run_one(block, {"n": n}).ok
    lines = (root / "events.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_empty_input_creates_or_truncates(run_one, root: Path) -> None:
    result = run_one(ob.Block.file_write("new.txt"))
    assert result.ok and (root / "new.txt").read_bytes() == b""
    (root / "full.txt").write_text("content")
    assert run_one(ob.Block.file_write("full.txt", mode="overwrite")).ok
    assert (root / "full.txt").read_bytes() == b""


def test_parent_directories_are_created_inside_the_root(run_one, root: Path) -> None:
    block = ob.Block.file_write("logs/2026/02/errors.log")
    result = run_one(block, "boom\n")
    assert result.ok, result.error
    assert (root / "logs/2026/02/errors.log").read_text() == "boom\n"
    assert result.output(block)["path"] == "logs/2026/02/errors.log"


def test_an_absolute_path_inside_the_root_is_accepted(run_one, root: Path) -> None:
    block = ob.Block.file_write(str(root / "sub" / "abs.txt"))
    result = run_one(block, "x")
    assert result.ok, result.error
    assert result.output(block) == {"path": "sub/abs.txt", "bytes": 1}
    assert (root / "sub" / "abs.txt").read_text() == "x"


def test_overwrite_keeps_permissions_and_leaves_no_temporary_file(run_one, root: Path) -> None:
    target = root / "conf.txt"
    target.write_text("v1")
    target.chmod(0o640)
    assert run_one(ob.Block.file_write("conf.txt", mode="overwrite"), "v2").ok
    assert target.read_text() == "v2"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in root.iterdir()) == ["conf.txt"]


def test_writing_through_a_symlink_inside_the_root_writes_its_target(run_one, root):
    (root / "real").mkdir()
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert run_one(ob.Block.file_write("alias/out.txt"), "via link").ok
    assert (root / "real" / "out.txt").read_text() == "via link"


def test_file_write_logs_what_it_wrote(run_one) -> None:
    result = run_one(ob.Block.file_write("a.txt"), "abc")
    [event] = [e for e in result.events if e["event"] == "file.written"]
    assert (event["path"], event["mode"], event["bytes"]) == ("a.txt", "append", 3)


def test_an_unknown_mode_fails_at_construction() -> None:
    with pytest.raises(ob.InvalidBlockConfig, match="mode"):
        ob.Block.file_write("a.txt", mode="truncate")


# -- file_read ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kind", "payload"),
    [
        ("héllo\n".encode(), "text", "héllo\n"),
        (b"", "text", ""),
        (b"\x89PNG\r\n\x1a\n\x00\xff", "bytes", b"\x89PNG\r\n\x1a\n\x00\xff"),
    ],
)
def test_file_read_outputs_text_for_utf8_and_bytes_otherwise(
    run_one, root: Path, content: bytes, kind: str, payload: object
) -> None:
    (root / "docs").mkdir()
    (root / "docs" / "f").write_bytes(content)
    block = ob.Block.file_read("docs/f")
    result = run_one(block)
    assert result.ok, result.error
    assert result.final_value.kind == kind
    assert result.output(block) == payload


def test_what_file_write_appends_file_read_reads_back(run_one) -> None:
    assert run_one(ob.Block.file_write("round.txt"), "one\n").ok
    assert run_one(ob.Block.file_write("round.txt"), {"two": 2}).ok
    assert run_one(ob.Block.file_read("round.txt")).final_value.payload == 'one\n{"two": 2}\n'


# -- list_directory -----------------------------------------------------------------------


def test_list_directory_names_types_and_sizes(run_one, root: Path) -> None:
    (root / "b.txt").write_bytes(b"12345")
    (root / "a_dir").mkdir()
    (root / "a_dir" / "nested.txt").write_text("not listed")
    (root / "link").symlink_to(root / "b.txt")
    os.mkfifo(root / "pipe")
    block = ob.Block.list_directory()
    result = run_one(block)
    assert result.ok, result.error
    assert result.output(block) == [
        {"name": "a_dir", "type": "directory", "size": None},
        {"name": "b.txt", "type": "file", "size": 5},
        {"name": "link", "type": "symlink", "size": None},
        {"name": "pipe", "type": "other", "size": None},
    ]


def test_list_directory_of_a_subdirectory_and_an_empty_one(run_one, root: Path) -> None:
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "x.log").write_text("abc")
    assert run_one(ob.Block.list_directory("d")).final_value.payload == [
        {"name": "e", "type": "directory", "size": None},
        {"name": "x.log", "type": "file", "size": 3},
    ]
    assert run_one(ob.Block.list_directory("d/e")).final_value.payload == []


def test_reading_a_fifo_never_hangs_the_run(run_one, root: Path) -> None:
    os.mkfifo(root / "pipe")
    result = run_one(ob.Block.file_read("pipe"))
    assert result.ok, result.error
    assert result.final_value.payload == ""
