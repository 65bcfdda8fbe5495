"""The http family against the SDK contract and the spec tables (contract §6.3, §7.5)."""

from __future__ import annotations

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks.plugins.http import http_request
from orchestrator_blocks.plugins.http.codes import BASELINE_CODES, CODES
from orchestrator_blocks.sdk.testing import check_block_type

# contract §7.5: required baseline codes of http_request
CONTRACT_CODES = {
    "http.timeout",
    "http.rate_limited.429",
    "http.server_error.5xx",
    "http.auth.401",
    "http.forbidden.403",
    "http.invalid_request",
}


def test_check_block_type_passes():
    check_block_type(http_request)


def test_the_type_is_registered_through_its_entry_point(cli):
    assert ob.Block.http_request("http://127.0.0.1/").block_type is http_request
    listed = cli("plugins", "list")
    assert listed.code == 0
    assert "http_request" in listed.out


def test_codes_cover_the_contract_baseline():
    assert set(BASELINE_CODES) == CONTRACT_CODES
    assert http_request.codes >= CONTRACT_CODES
    assert http_request.codes == frozenset(CODES)
    assert http_request.domain == "http"
    assert http_request.timeout_code == "http.timeout"


@pytest.mark.parametrize(
    ("knob", "expected"),
    [
        ("timeout_ms", 30_000),
        ("retries", 2),
        ("backoff.kind", "exponential"),
        ("backoff.base_ms", 1_000),
        ("backoff.factor", 2.0),
        ("backoff.jitter", 0.2),
        ("backoff.cap_ms", 30_000),
    ],
)
def test_default_policy_follows_contract_6_3(knob, expected):
    policy = ob.Block.http_request("http://127.0.0.1/").policy
    value = policy
    for part in knob.split("."):
        value = getattr(value, part)
    assert value == expected


@pytest.mark.parametrize(
    ("method", "writes"),
    [
        ("GET", False),
        ("get", False),
        ("HEAD", False),
        ("OPTIONS", False),
        ("POST", True),
        ("put", True),
        ("PATCH", True),
        ("DELETE", True),
    ],
)
def test_only_writing_methods_count_as_side_effects(method, writes):
    block = ob.Block.http_request("http://127.0.0.1/", method=method)
    assert block.block_type.is_write(block.config) is writes
    assert http_request.writes_when is not None
    assert http_request.writes_when({"method": method}) is writes


def test_side_effect_is_declared_for_http():
    [effect] = http_request.side_effects
    assert effect.system == "HTTP"


def test_description_names_what_the_block_outputs():
    assert "response body" in http_request.description
