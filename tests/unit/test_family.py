"""Families: a plugin declares its domain, codes (with retry dispositions), default policy and
side effects once; its block types inherit them, override what differs, and the executor
honours what was declared (a code's disposition, a type's timeout disposition, ctx.policy)."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.testing import check_family

NEVER, BACKOFF = sdk.RetryDisposition.NEVER, sdk.RetryDisposition.BACKOFF


def github_family() -> sdk.Family:
    return sdk.family(
        "github",
        codes=[
            sdk.Code("github.auth", "never", "the token was refused (401)"),
            sdk.Code("github.rate_limited", "backoff", "429 (Retry-After honoured)"),
            sdk.Code("github.timeout", "backoff", "the attempt outlived the block's timeout"),
        ],
        timeout=30,
        retries=2,
        backoff=sdk.Backoff.fixed(500),
        timeout_code="github.timeout",
        side_effects=[sdk.SideEffect("GitHub", "repository", "read")],
        description="the GitHub REST API",
    )


def test_a_type_inherits_everything_its_family_declares() -> None:
    fam = github_family()

    @fam.block_type("github_list_issues")
    async def list_issues(ctx: sdk.RunContext, value: sdk.Value, repo: str) -> sdk.Value:
        """List a repository's issues."""
        return sdk.Json([])

    assert (list_issues.family, list_issues.domain) == ("github", "custom:github")
    assert list_issues.codes == {"github.auth", "github.rate_limited", "github.timeout"}
    assert list_issues.disposition_of("github.rate_limited") is BACKOFF
    assert list_issues.code_table["github.auth"].meaning == "the token was refused (401)"
    assert list_issues.default_policy == sdk.Policy(2, 30_000, sdk.Backoff.fixed(500))
    assert (list_issues.timeout_code, list_issues.timeout_retry) == ("github.timeout", BACKOFF)
    assert list_issues.side_effects == (sdk.SideEffect("GitHub", "repository", "read"),)
    assert list(fam) == [list_issues]
    assert check_family(fam) == ["github_list_issues"]


def test_a_type_overrides_what_differs() -> None:
    fam = github_family()

    @fam.block_type(
        "github_create_issue",
        codes=[sdk.Code("github.invalid", "never", "GitHub refused the fields (422)")],
        retries=0,
        timeout=None,
        timeout_retry="never",
        side_effects=[sdk.SideEffect("GitHub", "issues", "create")],
    )
    async def create_issue(ctx: sdk.RunContext, value: sdk.Value, repo: str) -> sdk.Value:
        """Create an issue."""
        return sdk.Json({})

    @fam.block_type("github_ping", side_effects=[])
    def ping(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """Ping the API."""
        return sdk.Empty()

    assert "github.invalid" in create_issue.codes and "github.auth" in create_issue.codes
    assert create_issue.default_policy.retries == 0
    assert create_issue.default_policy.timeout_ms is None
    assert create_issue.timeout_retry is NEVER
    assert create_issue.writes and not ping.writes
    assert "github.invalid" not in fam.codes  # the type's own code stays the type's


def test_a_type_in_another_domain_brings_its_own_codes() -> None:
    fam = github_family()

    @fam.block_type("gist_read", domain="gist", codes=[sdk.Code("gist.gone", "never", "404")])
    def gist_read(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """Read a gist."""
        return sdk.Empty()

    assert gist_read.codes == {"gist.gone"}
    assert gist_read.timeout_code is None and gist_read.family == "github"


def test_the_timeout_disposition_defaults_to_the_timeout_codes() -> None:
    fam = sdk.family(
        "slow",
        codes=[sdk.Code("slow.timeout", "never", "the call may have happened")],
        timeout_code="slow.timeout",
    )

    @fam.block_type("slow_post")
    def slow_post(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """Post slowly."""
        return sdk.Empty()

    assert slow_post.timeout_retry is NEVER
    lone = sdk.block_type("lone")(lambda ctx, value: value)
    assert (lone.domain, lone.timeout_retry, lone.default_policy) == (
        "custom:lone",
        BACKOFF,
        sdk.Policy(),
    )


@pytest.mark.parametrize(
    ("declaration", "fragment"),
    [
        ({"codes": [sdk.Code("other.x", "never", "?")]}, "not namespaced"),
        ({"codes": ["runtime.timeout"], "domain": "runtime"}, "not namespaced"),
        ({"codes": [sdk.Code("fam.a", "never")], "timeout_code": "fam.b"}, "timeout_code"),
        ({"timeout": 1, "timeout_ms": 1000}, "not both"),
        (
            {"codes": [sdk.Code("fam.a", "never"), sdk.Code("fam.a", "backoff")]},
            "declared twice",
        ),
    ],
)
def test_family_mistakes_fail_where_the_family_is_declared(
    declaration: dict, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        sdk.family("fam", **declaration)


def test_a_code_is_a_dotted_name_with_a_known_disposition() -> None:
    with pytest.raises(ValueError, match="dotted"):
        sdk.Code("nodot", "never")
    with pytest.raises(ValueError, match="never, immediate, backoff or manual"):
        sdk.Code("a.b", "sometimes")  # type: ignore[arg-type]
    assert sdk.Code("a.b", sdk.RetryDisposition.MANUAL).retry is sdk.RetryDisposition.MANUAL


def test_a_type_declared_in_a_family_with_a_foreign_code_fails_at_declaration() -> None:
    fam = github_family()
    with pytest.raises(ValueError, match=r"github_bad.*not namespaced"):
        fam.block_type("github_bad", codes=["gitlab.auth"])(lambda ctx, value: value)


def test_registry_add_takes_a_whole_family() -> None:
    fam = github_family()
    a = fam.block_type("github_a")(lambda ctx, value: value)
    b = fam.block_type("github_b")(lambda ctx, value: value)
    registry = sdk.Registry()
    registry.add(fam)
    assert [registry.get("github_a"), registry.get("github_b")] == [a, b]


def test_the_card_says_everything_plugins_show_prints() -> None:
    fam = github_family()

    @fam.block_type("github_create_issue", timeout_retry="never")
    async def create_issue(
        ctx: sdk.RunContext, value: sdk.Value, repo: str, *, title: str = "bug"
    ) -> sdk.Value:
        """Create an issue.

        Longer text that is not the description."""
        return sdk.Empty()

    card = create_issue.card()
    assert card["signature"] == "Block.github_create_issue(repo: str, *, title: str = 'bug')"
    assert card["description"] == "Create an issue."
    assert (card["family"], card["timeout_code"], card["timeout_retry"]) == (
        "github",
        "github.timeout",
        "never",
    )
    assert {"code": "github.auth", "retry": "never", "meaning": "the token was refused (401)"} in (
        card["code_table"]
    )
    assert card["writes"] == "always"
    assert card["side_effects"] == [
        {"system": "GitHub", "resource": "repository", "action": "read", "counts_as_write": True}
    ]


def test_a_side_effect_that_does_not_count_as_a_write_is_a_change_but_not_a_write() -> None:
    """The approval gate's proposal row: listed by explain, never refused as a write."""

    @sdk.block_type(
        "ask_first",
        side_effects=[sdk.SideEffect("Store", "proposals", "INSERT", counts_as_write=False)],
    )
    def ask_first(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        return value

    @sdk.block_type(
        "maybe_post",
        side_effects=[sdk.SideEffect("HTTP", "host", "POST")],
        writes_when=lambda config: config["method"] == "POST",
    )
    def maybe_post(ctx: sdk.RunContext, value: sdk.Value, method: str = "GET") -> sdk.Value:
        return value

    assert not ask_first.writes and not ask_first.is_write({})
    assert [e.resource for e in ask_first.changes({})] == ["proposals"]
    assert ask_first.card()["writes"] == "never"
    assert maybe_post.changes({"method": "GET"}) == ()
    assert [e.action for e in maybe_post.changes({"method": "POST"})] == ["POST"]


# -- what the executor does with the declarations ------------------------------------------


def test_a_raise_without_a_disposition_gets_the_declared_one(block_harness) -> None:
    fam = github_family()
    calls = []

    @fam.block_type("github_flaky", backoff=sdk.Backoff.fixed(250))
    def flaky(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """Rate limited twice, then fine."""
        calls.append(ctx.attempt)
        if len(calls) < 3:
            raise sdk.BlockError("github.rate_limited", "slow down")
        return sdk.Text("ok")

    outcome = block_harness.run(flaky)
    assert outcome.ok and outcome.attempts == 3
    assert block_harness.clock.delays_ms == [250, 250]


def test_a_raise_that_names_a_disposition_keeps_it(block_harness) -> None:
    fam = github_family()

    @fam.block_type("github_fussy")
    def fussy(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """Rate limited, but this raise says never."""
        raise sdk.BlockError("github.rate_limited", "not again", retry_disposition="never")

    outcome = block_harness.run(fussy)
    assert outcome.error is not None
    assert (outcome.attempts, outcome.error.retry_disposition) == (1, NEVER)


def test_a_non_idempotent_type_is_not_retried_after_a_timeout(block_harness) -> None:
    fam = github_family()

    async def slow(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        await asyncio.sleep(5)
        return sdk.Empty()

    post = fam.block_type("github_post", timeout_retry="never")(slow)
    get = fam.block_type("github_get")(slow)
    policy = sdk.Policy(retries=2, timeout_ms=20, backoff=sdk.Backoff.fixed(100))
    posted = block_harness.run(post, policy=policy)
    got = block_harness.run(get, policy=policy)
    assert posted.error is not None and got.error is not None
    assert (posted.error.code, posted.error.retry_disposition, posted.attempts) == (
        "github.timeout",
        NEVER,
        1,
    )
    assert (got.error.code, got.attempts) == ("github.timeout", 3)
    assert block_harness.clock.delays_ms == [100, 100]


def test_the_block_sees_the_effective_policy_of_its_attempt(block_harness) -> None:
    seen: list[tuple[int, sdk.Policy | None]] = []

    @sdk.block_type("peek", codes=[sdk.Code("peek.busy", "backoff", "busy")])
    def peek(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """Record ctx.policy."""
        seen.append((ctx.attempt, ctx.policy))
        if ctx.attempt < 2:
            raise sdk.BlockError("peek.busy", "busy")
        return sdk.Empty()

    policy = sdk.Policy(retries=1, timeout_ms=1_000, backoff=sdk.Backoff.none())
    assert block_harness.run(peek, policy=policy).ok
    assert seen == [(1, policy), (2, policy)]
