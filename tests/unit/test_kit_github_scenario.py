"""The github-style family a third-party author wrote, tested with the kit against a real
server on loopback: create an issue (a POST that must not be repeated after a timeout),
list issues across ``Link`` pages; 401, 404, 422, 429 with ``Retry-After`` (seconds, an
HTTP date, past the cap), 5xx, a slow server. The fake clock makes every backoff instant, so
the whole scenario runs in well under two seconds and each delay is asserted exactly."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from support.http_server import Reply, ScriptedHTTPServer

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import http as sdk_http
from orchestrator_blocks.sdk.redaction import Redactor
from orchestrator_blocks.sdk.testing import BlockHarness, FakeClock, value_of

AUTH = "github.auth"
NOT_FOUND = "github.not_found"
INVALID = "github.invalid"
RATE_LIMITED = "github.rate_limited"
SERVER_ERROR = "github.server_error"
TIMEOUT = "github.timeout"
UNREACHABLE = "github.unreachable"
BAD_ANSWER = "github.bad_answer"

GITHUB = sdk.family(
    "github",
    codes=[
        sdk.Code(AUTH, "never", "the token was refused (401, 403)"),
        sdk.Code(NOT_FOUND, "never", "no such repository (404)"),
        sdk.Code(INVALID, "never", "GitHub refused the fields (422) or another 4xx"),
        sdk.Code(RATE_LIMITED, "backoff", "429 (Retry-After honoured up to the backoff cap)"),
        sdk.Code(SERVER_ERROR, "backoff", "a 5xx"),
        sdk.Code(TIMEOUT, "backoff", "the attempt outlived the block's timeout"),
        sdk.Code(UNREACHABLE, "backoff", "connection refused or reset"),
        sdk.Code(BAD_ANSWER, "never", "an answer that is not the JSON expected"),
    ],
    timeout=10,
    retries=3,
    backoff=sdk.Backoff.exponential(1_000, 2.0, jitter=0.0, cap_ms=30_000),
    timeout_code=TIMEOUT,
)
BOUNDARY = sdk_http.HttpCodes(
    timeout=TIMEOUT,
    connection=UNREACHABLE,
    invalid_request=INVALID,
    invalid_response=BAD_ANSWER,
    auth=AUTH,
    rate_limited=RATE_LIMITED,
    server_error=SERVER_ERROR,
)
NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


async def _call(ctx: sdk.RunContext, method: str, url: str, **kwargs: Any) -> httpx.Response:
    redactor = Redactor.for_request(url)
    client = sdk_http.client(ctx, "github")
    with sdk_http.httpx_errors(BOUNDARY, f"{method} {url}", redactor, {}):
        response = await client.request(method, url, **kwargs)
    status = response.status_code
    if status == 404:
        raise sdk.BlockError(NOT_FOUND, f"{url}: not found", provider_status=404)
    retry_after = sdk_http.retry_after_ms(response.headers.get("retry-after"), ctx.clock.now())
    assert ctx.policy is not None
    if status == 429 and retry_after is not None and retry_after > ctx.policy.backoff.cap_ms:
        raise sdk.BlockError(
            RATE_LIMITED,
            f"rate limited for {retry_after} ms, longer than this block waits",
            retry_disposition="never",
            provider_status=429,
            details={"retry_after_ms": retry_after},
        )
    failure = sdk_http.status_error(
        status, BOUNDARY, subject=url, details={}, retry_after=retry_after
    )
    if failure is not None:
        raise failure
    return response


@GITHUB.block_type(
    "github_create_issue",
    timeout_retry="never",  # a POST that timed out may have created the issue
    side_effects=[sdk.SideEffect("GitHub", "issues", "create")],
)
async def github_create_issue(
    ctx: sdk.RunContext, value: sdk.Value, api: str, repo: str, *, title: str
) -> sdk.Value:
    """Create an issue whose body is the input; output the issue."""
    response = await _call(
        ctx, "POST", f"{api}/repos/{repo}/issues", json={"title": title, "body": value.text()}
    )
    return sdk.Json(response.json())


@GITHUB.block_type("github_list_issues", side_effects=[])
async def github_list_issues(
    ctx: sdk.RunContext, value: sdk.Value, api: str, repo: str
) -> sdk.Value:
    """List a repository's issues, following ``Link: rel="next"`` pages."""
    issues: list[Any] = []
    url: str | None = f"{api}/repos/{repo}/issues"
    while url:
        response = await _call(ctx, "GET", url)
        issues.extend(response.json())
        found = NEXT.search(response.headers.get("link", ""))
        url = found.group(1) if found else None
    return sdk.Json(issues)


@pytest.fixture
def github() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as server:
        yield server


@pytest.fixture
def kit(tmp_path) -> BlockHarness:
    return BlockHarness(tmp_path, FakeClock())


def _list(kit: BlockHarness, server: ScriptedHTTPServer, repo: str, **policy: Any) -> Any:
    config = {"api": server.url(""), "repo": repo}
    pol = github_list_issues.default_policy.evolve(**policy) if policy else None
    return kit.run(github_list_issues, config=config, policy=pol)


def test_the_whole_github_scenario_runs_in_under_two_seconds(github, tmp_path) -> None:
    started = time.monotonic()
    results = {}
    for name, scenario in SCENARIOS.items():
        kit = BlockHarness(tmp_path / name, FakeClock())
        (tmp_path / name).mkdir()
        results[name] = scenario(kit, github)
    wall = time.monotonic() - started
    assert wall < 2.0, f"the scenario took {wall:.2f} s"
    assert results == EXPECTED


def paginated(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    page2 = server.url("/repos/acme/paged/issues/p2")
    link = {"Link": f'<{page2}>; rel="next"'}
    server.script("/repos/acme/paged/issues", Reply(200, [{"n": 1}], link))
    server.script("/repos/acme/paged/issues/p2", Reply(200, [{"n": 2}]))
    outcome = _list(kit, server, "acme/paged")
    return value_of(outcome).payload, kit.clock.delays_ms


def rate_limited_in_seconds(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    server.script(
        "/repos/acme/busy/issues", Reply(429, "slow down", {"Retry-After": "7"}), Reply(200, [])
    )
    outcome = _list(kit, server, "acme/busy")
    return outcome.ok, outcome.attempts, kit.clock.delays_ms


def rate_limited_until_a_date(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    when = email.utils.format_datetime(kit.clock.now() + timedelta(seconds=12), usegmt=True)
    server.script(
        "/repos/acme/dated/issues", Reply(429, "later", {"Retry-After": when}), Reply(200, [])
    )
    outcome = _list(kit, server, "acme/dated")
    return outcome.ok, kit.clock.delays_ms


def rate_limited_past_the_cap(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    server.script("/repos/acme/banned/issues", Reply(429, "", {"Retry-After": "3600"}))
    outcome = _list(kit, server, "acme/banned")
    err = outcome.error
    return err.code, str(err.retry_disposition), outcome.attempts, err.details["retry_after_ms"]


def server_errors(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    server.script(
        "/repos/acme/flaky/issues", Reply(503, "down"), Reply(502, "down"), Reply(200, [{"n": 3}])
    )
    outcome = _list(kit, server, "acme/flaky")
    return value_of(outcome).payload, outcome.attempts, kit.clock.delays_ms


def server_errors_exhaust_the_retries(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    server.script("/repos/acme/dead/issues", Reply(500, "dead"))
    outcome = _list(kit, server, "acme/dead")
    return outcome.error.code, outcome.attempts, kit.clock.delays_ms


def unauthorised(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    server.script("/repos/acme/private/issues", Reply(401, "bad credentials"))
    outcome = _list(kit, server, "acme/private")
    return outcome.error.code, outcome.error.provider_status, outcome.attempts


def missing(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    outcome = _list(kit, server, "acme/nothing-here")  # unscripted paths answer 404
    return outcome.error.code, outcome.attempts


def invalid_fields(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    server.script("/repos/acme/app/issues", Reply(422, {"message": "Validation Failed"}))
    config = {"api": server.url(""), "repo": "acme/app", "title": ""}
    outcome = kit.run(github_create_issue, "body", config=config)
    return outcome.error.code, outcome.error.provider_status, outcome.attempts


def slow_create_is_not_repeated(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    server.script("/repos/acme/slow/issues", Reply(201, {"number": 1}, delay=0.5))
    config = {"api": server.url(""), "repo": "acme/slow", "title": "t"}
    policy = github_create_issue.default_policy.evolve(timeout_ms=60)
    outcome = kit.run(github_create_issue, "body", config=config, policy=policy)
    at_most_once = len(server.requests_to("/repos/acme/slow/issues")) <= 1
    err = outcome.error
    return err.code, str(err.retry_disposition), outcome.attempts, at_most_once, kit.clock.delays_ms


def slow_list_is_retried(kit: BlockHarness, server: ScriptedHTTPServer) -> Any:
    server.script("/repos/acme/sluggish/issues", Reply(200, [], delay=0.5))
    outcome = _list(kit, server, "acme/sluggish", timeout_ms=60, retries=1)
    return outcome.error.code, outcome.attempts, kit.clock.delays_ms


SCENARIOS = {
    "paginated": paginated,
    "rate_limited_in_seconds": rate_limited_in_seconds,
    "rate_limited_until_a_date": rate_limited_until_a_date,
    "rate_limited_past_the_cap": rate_limited_past_the_cap,
    "server_errors": server_errors,
    "server_errors_exhaust_the_retries": server_errors_exhaust_the_retries,
    "unauthorised": unauthorised,
    "missing": missing,
    "invalid_fields": invalid_fields,
    "slow_create_is_not_repeated": slow_create_is_not_repeated,
    "slow_list_is_retried": slow_list_is_retried,
}
EXPECTED = {
    "paginated": ([{"n": 1}, {"n": 2}], []),
    "rate_limited_in_seconds": (True, 2, [7_000]),
    "rate_limited_until_a_date": (True, [12_000]),
    "rate_limited_past_the_cap": (RATE_LIMITED, "never", 1, 3_600_000),
    "server_errors": ([{"n": 3}], 3, [1_000, 2_000]),
    "server_errors_exhaust_the_retries": (SERVER_ERROR, 4, [1_000, 2_000, 4_000]),
    "unauthorised": (AUTH, 401, 1),
    "missing": (NOT_FOUND, 1),
    "invalid_fields": (INVALID, 422, 1),
    "slow_create_is_not_repeated": (TIMEOUT, "never", 1, True, []),
    "slow_list_is_retried": (TIMEOUT, 2, [1_000]),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_case_alone(name: str, github, kit: BlockHarness) -> None:
    """The same cases one by one, so a failure names its case."""
    assert SCENARIOS[name](kit, github) == EXPECTED[name]
