"""schemathesis against the console's own OpenAPI spec: no input makes the API fail with 5xx.

The spec is loaded from the running server (``/api/openapi.json``) and each operation is fuzzed
with positive and negative cases, logged in as the approver (cookie + CSRF header), over real
proposals and runs.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from console_support import Console, login, run_workflows, stage_batch_proposal
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

MAX_EXAMPLES = 8


def test_spec_describes_the_api(console: Console, client: httpx.Client) -> None:
    spec = client.get("/api/openapi.json").json()
    assert set(spec["paths"]) == {
        "/api/proposals",
        "/api/proposals/{proposal_id}",
        "/api/proposals/{proposal_id}/approve",
        "/api/proposals/{proposal_id}/reject",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/workflows",
    }
    assert set(spec["components"]["securitySchemes"]) == {"session", "csrf"}
    assert not any(p.startswith("/runs") or p == "/login" for p in spec["paths"])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error(console: Console, client: httpx.Client, mode: GenerationMode) -> None:
    for ref in ("a", "b", "c"):
        stage_batch_proposal(console.store, ref=ref)
    run_workflows()
    csrf = login(client, console)
    cookies = {"ob_console_session": client.cookies["ob_console_session"]}
    headers = {"X-CSRF-Token": csrf}
    schema = schemathesis.openapi.from_url(f"{console.url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    checked: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=console.url, headers=headers, cookies=cookies)
            case.validate_response(response, checks=[not_a_server_error])

        fuzz()
        checked.append(operation.label)
    assert len(checked) == 7
    # the session survived the fuzzing: the API still answers as the approver
    assert client.get("/api/proposals").status_code == 200
