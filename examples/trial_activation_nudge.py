"""trial_activation_nudge: every 15 minutes, fetch the trials that have not activated and
email a nudge to the growth team (contract §5.2, §9 and §13).

    orchestrator-blocks demo                                  # on embedded defaults
    orchestrator-blocks run examples/trial_activation_nudge.py  # once, now
    orchestrator-blocks serve --dir examples                  # at its cron times

cron -> http_request -> template_handlebars -> send_email; each of the last three hands its
error envelope to one child workflow that renders it as one JSON line and appends it to
``errors/trial_activation_nudge.jsonl`` under ``ORCHESTRATOR_BLOCKS_FILES_ROOT``.

Settings (environment): ``ORCHESTRATOR_BLOCKS_TRIALS_URL`` (the upstream endpoint; without
it, a sample upstream this process starts on 127.0.0.1, on a port the OS picks),
``ORCHESTRATOR_BLOCKS_NUDGE_TO`` (recipient), ``ORCHESTRATOR_BLOCKS_SMTP_URL`` (without it
the email lands in ``$ORCHESTRATOR_BLOCKS_HOME/outbox/`` as an ``.eml`` file).
"""

from __future__ import annotations

import os

import orchestrator_blocks as ob
from orchestrator_blocks.examples.demo_upstream import sample_trials_url

# Without a configured upstream, a sample one on a port the OS picks (never a fixed port
# such as the console's 8765, which another program may hold).
TRIALS_URL = os.environ.get("ORCHESTRATOR_BLOCKS_TRIALS_URL") or sample_trials_url()
NUDGE_TO = os.environ.get("ORCHESTRATOR_BLOCKS_NUDGE_TO", "growth@example.com")
ERROR_LOG = "errors/trial_activation_nudge.jsonl"

NUDGE = """\
<h1>{{count}} trials have not activated yet</h1>
<table>
  <tr><th>Company</th><th>Contact</th><th>Signed up</th><th>Days left</th></tr>
  {{#each trials}}
  <tr><td>{{company}}</td><td>{{email}}</td><td>{{signed_up}}</td><td>{{days_left}}</td></tr>
  {{/each}}
</table>
<p>A short personal note from the team usually gets them started.</p>
"""

# One JSON object per line (JSON Lines: file_write appends text as is, so the template ends
# the line itself); the `json` helper encodes each value of the envelope.
ERROR_LINE = (
    '{"ts": {{{json ts}}}, "workflow_id": {{{json workflow_id}}}, "run_id": {{{json run_id}}}, '
    '"block_id": {{{json block_id}}}, "attempt": {{{json attempt}}}, "origin": {{{json origin}}}, '
    '"domain": {{{json domain}}}, "code": {{{json code}}}, '
    '"retry_disposition": {{{json retry_disposition}}}, '
    '"provider_status": {{{json provider_status}}}, "message": {{{json message}}}}\n'
)


def error_handler_def() -> ob.Workflow:
    """The on_error child: render the envelope, append it to the error log."""
    w = ob.new_workflow("trial_activation_nudge.on_error")
    render = ob.Block.template_handlebars(ERROR_LINE).named("render_envelope")
    append = ob.Block.file_write(ERROR_LOG, mode="append").named("append_error_log")
    w.link(render, append)
    return w


def build_workflow() -> ob.Workflow:
    w = ob.new_workflow("trial_activation_nudge")
    w.set_description("Scheduled detection and notification of non-activated trials.")

    trigger = ob.Block.cron("0 */15 * * * * *").named("trigger")
    fetch = (
        ob.Block.http_request(TRIALS_URL, parse="json")
        .named("fetch_trials")
        .set_timeout_ms(30_000)
        .set_retry_exponential(2, 1_000, 2.0)
    )
    # strict: a JSON body that is not the trials document fails here (template.missing_data)
    # instead of mailing a half-empty nudge.
    render = ob.Block.template_handlebars(NUDGE, strict=True).named("render_nudge")
    send = (
        ob.Block.send_email(NUDGE_TO, "Trial Activation Nudge")
        .named("send_nudge")
        .set_timeout_ms(30_000)
        .set_retry_exponential(3, 1_000, 2.0)
    )
    err = ob.Block.child_workflow(error_handler_def()).named("log_error")

    w.link(trigger, fetch)
    w.link(fetch, render)
    w.link(render, send)
    w.on_error(fetch, err)
    w.on_error(render, err)
    w.on_error(send, err)
    return w


workflow = build_workflow()
