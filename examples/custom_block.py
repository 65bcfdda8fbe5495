"""A custom block written with the SDK, wired with built-in blocks.

    orchestrator-blocks run examples/custom_block.py

`lead_score` is declared exactly as a plugin would declare it (a family: domain, codes with
their retry disposition, default policy) and registered at run time with
`ob.register_plugin`; packaged as a distribution with an entry point (`orchestrator-blocks
plugins new`, or see contrib_blocks/chat_webhook) it would be found automatically.
"""

from __future__ import annotations

import orchestrator_blocks as ob
from orchestrator_blocks import sdk

NO_DATA = "lead_score.no_data"
LEADS = sdk.family(
    "lead_score",
    codes=[sdk.Code(NO_DATA, "never", "there were no accounts to score")],
    timeout=5,
)


@LEADS.block_type("lead_score")
async def lead_score(ctx: sdk.RunContext, value: sdk.Value, *, threshold: int = 3) -> sdk.Value:
    """Score trial accounts by activity; keep those at or above `threshold`."""
    accounts = value.json() or []
    if not accounts:
        raise sdk.BlockError(NO_DATA, "no accounts to score")  # declared: never retried
    scored = [{**a, "score": a["logins"] + 2 * a["invites"]} for a in accounts]
    hot = [a for a in scored if a["score"] >= threshold]
    ctx.log.info("lead_score.scored", accounts=len(scored), hot=len(hot), threshold=threshold)
    return sdk.Json(hot)


class _Plugin:
    @sdk.hookimpl
    def register_block_types(self, registry: sdk.Registry) -> None:
        registry.add(LEADS)


ob.register_plugin(_Plugin(), name="example-lead-score")

ACCOUNTS = [
    {"email": "ana@example.com", "logins": 4, "invites": 1},
    {"email": "bo@example.com", "logins": 0, "invites": 0},
    {"email": "cy@example.com", "logins": 1, "invites": 2},
]

# The error path: a child workflow that turns the envelope into one readable line.
error_handler = ob.new_workflow("lead_score_errors")
error_handler.add(
    ob.Block.custom_transform(
        lambda env: f"[{env['severity']}] {env['block_id']}: {env['code']} {env['message']}"
    ).named("describe_error")
)

workflow = ob.new_workflow("score_trials")
load = ob.Block.custom_transform(lambda _: ACCOUNTS).named("load_accounts")
score = ob.Block.lead_score(threshold=4).named("score")
summary = ob.Block.custom_transform(
    lambda hot: "hot leads: " + ", ".join(a["email"] for a in hot)
).named("summarise")
on_error = ob.Block.child_workflow(error_handler).named("report_error")

workflow.link(load, score)
workflow.link(score, summary)
workflow.on_error(score, on_error)

if __name__ == "__main__":
    result = workflow.run()
    print(result.status, result.output(summary))
