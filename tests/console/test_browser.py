"""End to end in Debian's Chromium (Playwright): log in, approve and reject proposals, open a
run's timeline and a workflow's graph.

Screenshots go to a temporary directory: the tracked ones in docs/screenshots/ change only
on purpose, with `nox -s screenshots` (it sets ORCHESTRATOR_BLOCKS_SCREENSHOTS to that
directory)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from console_support import (
    APPROVER,
    EVIL_BODY,
    EVIL_NAME,
    REPO,
    Console,
    run_workflows,
    stage_batch_proposal,
)

CHROMIUM = os.environ.get("ORCHESTRATOR_BLOCKS_CHROMIUM", "/usr/bin/chromium")
TRACKED_SHOTS = REPO / "docs" / "screenshots"
SHOTS_ENV = "ORCHESTRATOR_BLOCKS_SCREENSHOTS"


def _tracked() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(TRACKED_SHOTS.glob("*.png"))}


TRACKED_AT_START = _tracked()

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright; without it, one line says what to install."""
    from playwright.sync_api import sync_playwright
    from support.peers import peer_unavailable

    if not os.access(CHROMIUM, os.X_OK):
        peer_unavailable(f"Chromium ({CHROMIUM}): install it with `apt-get install chromium`")

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: a temporary directory, unless asked for elsewhere."""
    path = Path(os.environ.get(SHOTS_ENV) or tmp_path / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(10_000)
    dialogs: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    p.dialogs = dialogs  # type: ignore[attr-defined]
    yield p
    context.close()


def log_in(page: Any, console: Console, name: str = APPROVER) -> None:
    page.goto(console.url + "/proposed-actions")
    assert page.url.endswith("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=token]", console.token())
    page.click("button[type=submit]")
    page.wait_for_url("**/proposed-actions")


def test_approve_and_reject_in_the_browser(page: Any, console: Console, shots: Path) -> None:
    first = stage_batch_proposal(console.store, ref="one")
    second = stage_batch_proposal(console.store, ref="two", recipient=EVIL_NAME, body=EVIL_BODY)
    log_in(page, console)
    card = page.locator(f"#p{first.id}")
    assert card.get_attribute("data-status") == "pending"
    assert "recipients" in card.inner_text() and "Acme Ltd" in card.inner_text()
    evil = page.locator(f"#p{second.id}")
    assert EVIL_NAME in evil.inner_text()  # shown as text, not run
    frame = page.frame_locator(f"#p{second.id} iframe.email")
    assert "Hello" in frame.locator("body").inner_text()
    page.screenshot(path=str(shots / "approvals.png"), full_page=True)

    card.locator("input[name=note]").fill("looks right")
    card.locator("button[value=approve]").click()
    page.wait_for_selector(".flash.ok")
    assert f"proposal {first.id} approved by {APPROVER}" in page.inner_text(".flash.ok")
    assert page.locator(f"tr#p{first.id}").get_attribute("data-status") == "approved"
    assert console.store.proposals.get(first.id).status == "approved"

    page.locator(f"#p{second.id} button[value=reject]").click()
    page.wait_for_selector(".flash.ok")
    assert page.locator(f"tr#p{second.id}").get_attribute("data-status") == "rejected"
    assert console.store.proposals.get(second.id).status == "rejected"
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_a_non_approver_sees_the_buttons_disabled_and_why(page: Any, console: Console) -> None:
    p = stage_batch_proposal(console.store, ref="eve")
    log_in(page, console, name="eve")
    for decision in ("approve", "reject"):
        button = page.locator(f"#p{p.id} button[value={decision}]")
        assert button.is_disabled()
        assert button.get_attribute("title") == "only mike can decide"
    assert page.locator(f"#p{p.id} input[name=note]").is_disabled()
    assert "only mike can decide" in page.inner_text(".muted >> nth=0")
    assert console.store.proposals.get(p.id).status == "pending"


def test_the_approver_sees_them_enabled(page: Any, console: Console) -> None:
    p = stage_batch_proposal(console.store, ref="mike")
    log_in(page, console)
    assert page.locator(f"#p{p.id} button[value=approve]").is_enabled()
    assert page.locator(f"#p{p.id} button[value=reject]").is_enabled()


def test_a_null_input_shows_as_a_dash(page: Any, console: Console) -> None:
    p = stage_batch_proposal(console.store, ref="nulls")
    payload = {**p.payload, "inputs": {**p.payload["inputs"], "max_recipients": None}}
    console.store.proposals.stage(
        action_type=p.action_type,
        entity_ref="workflow:batch_notify:run_nulls2",
        workflow_type=p.workflow_type,
        run_id=None,
        risk_level=p.risk_level,
        proposed_by="runner",
        payload=payload,
    )
    log_in(page, console)
    cell = page.locator("table.inputs tr:has(th:text-is('max_recipients')) td")
    assert cell.inner_text() == "—"
    assert "None" not in page.inner_text("main")


def test_a_wrong_token_keeps_the_name(page: Any, console: Console) -> None:
    page.goto(console.url + "/login")
    page.fill("input[name=name]", "Mike Approver")
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    page.wait_for_selector(".flash.error")
    assert page.input_value("input[name=name]") == "Mike Approver"
    assert page.input_value("input[name=token]") == ""


def test_the_graph_fits_a_1280_px_window(page: Any, console: Console) -> None:
    log_in(page, console)
    page.goto(console.url + "/workflows/batch_notify_preview")
    assert page.viewport_size["width"] == 1280
    geometry = page.evaluate(
        """() => {
          const box = (el) => el.getBoundingClientRect();
          const card = document.querySelector("svg.flow").closest(".card");
          const lanes = [...document.querySelectorAll("svg.flow rect.lane")].map((r) => {
            const title = document.querySelector(
              `svg.flow text.lane-title[data-lane="${r.dataset.lane}"]`);
            return {lane: r.dataset.lane, rect: box(r).toJSON(), title: box(title).toJSON()};
          });
          return {lanes, card: box(card).toJSON(), width: window.innerWidth,
                  scroll: card.scrollWidth - card.clientWidth};
        }"""
    )
    assert [g["lane"] for g in geometry["lanes"]][-1] == "verify"
    verify = geometry["lanes"][-1]["rect"]
    assert verify["right"] <= min(geometry["width"], geometry["card"]["right"])
    assert geometry["scroll"] == 0  # nothing to scroll to: no lane is cut off
    for g in geometry["lanes"]:
        assert g["rect"]["left"] <= g["title"]["left"], g
        assert g["title"]["right"] <= g["rect"]["right"], g  # the header fits its lane


def test_run_timeline_and_workflow_graph(page: Any, console: Console, shots: Path) -> None:
    # Playwright's sync API keeps an event loop in this thread: run the workflows in another
    with ThreadPoolExecutor(1) as pool:
        ids = pool.submit(run_workflows).result()
    log_in(page, console)
    page.click("text=Runs")
    page.wait_for_url("**/runs")
    assert page.locator("table.runs tr").count() == 3
    page.click(f"text={ids['failed']}")
    page.wait_for_url(f"**/runs/{ids['failed']}")
    assert page.inner_text("#run-status") == "failed"
    rows = page.locator(".grow")
    got = [
        (
            r.get_attribute("data-block"),
            r.get_attribute("data-attempt"),
            r.get_attribute("data-outcome"),
        )
        for r in rows.all()
    ]
    assert got == [
        ("start", "1", "succeeded"),
        ("push", "1", "retrying"),
        ("push", "2", "failed"),
        ("notify_ops", "1", "succeeded"),
    ]
    assert "on_error handler of push" in page.inner_text(".grow[data-block=notify_ops]")
    assert "transform.execution_failed" in page.inner_text(".envelope")
    assert "workflow.failed" in page.inner_text("body")  # the ledger event of the run
    page.screenshot(path=str(shots / "run-timeline.png"), full_page=True)

    page.click(".grow[data-block=push] >> nth=0 >> a")
    page.wait_for_url("**/logs?block=push")
    assert "block.retry_scheduled" in page.inner_text("table.logs")

    page.goto(console.url + "/workflows/nightly_digest")
    lanes = page.locator("svg.flow text.lane-title > title").all_text_contents()
    for title in ("01 / Trigger", "04 / Steps and fan-out", "05 / Post actions", "06 / Verify"):
        assert title in lanes
    assert page.locator("path.edge-error").count() == 1
    assert page.locator("path.edge-success").count() == 1
    assert "workflow_run_log" in page.inner_text("table.changes")
    assert page.dialogs == []  # type: ignore[attr-defined]


def _serve_with_console(workflows: Any) -> tuple[Any, str]:
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator_blocks", "serve", "--dir", str(workflows),
         "--console-port", str(port), "--poll", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/login", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"serve's console did not start: {proc.communicate()[0]}")


def _wait_status(page: Any, url: str, status: str, timeout_s: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.goto(url)
        if page.inner_text("#run-status") == status:
            return
        time.sleep(0.5)
    raise AssertionError(f"{url} did not reach {status}: {page.inner_text('#run-status')}")


def test_batch_notify_gate_approved_in_the_browser_resumes_the_run(
    page: Any, cli: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acceptance path: serve (with its console) + a real batch_notify run waiting at the
    gate; the approver approves it in the browser, serve resumes the run, the run page shows
    it succeeded; a second gate is rejected in the browser and that run ends rejected."""
    import json
    import shutil
    import signal
    import time

    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", APPROVER)
    workflows = tmp_path / "wf"
    workflows.mkdir()
    shutil.copy(REPO / "examples" / "batch_notify.yaml", workflows)
    args = [
        "run", str(workflows / "batch_notify.yaml"),
        "--input", 'customer_cohort_filter={"plan": "trial"}',
        "--input", "subject=Trial ends", "--input", "body_template=<p>Hi {{companyname}}</p>",
        "--json",
    ]  # fmt: skip

    def to_gate() -> str:
        assert cli("demo", "seed-customers").code == 0
        res = cli(*args)
        summary = json.loads(res.out)
        assert summary["status"] == "awaiting_approval", summary
        return str(summary["run_id"])

    with ThreadPoolExecutor(1) as pool:  # Playwright's loop lives in this thread
        approved_run = pool.submit(to_gate).result()
        rejected_run = pool.submit(to_gate).result()
    proc, url = _serve_with_console(workflows)
    try:
        home = os.environ["ORCHESTRATOR_BLOCKS_HOME"]
        token = (Path(home) / "console-token").read_text().strip()
        page.goto(url + "/login")
        page.fill("input[name=name]", APPROVER)
        page.fill("input[name=token]", token)
        page.click("button[type=submit]")
        page.wait_for_url("**/proposed-actions")
        cards = page.locator("section[data-status=pending]")
        assert cards.count() == 2
        text = page.inner_text("body")
        assert "workflow_batch_notify" in text and "Northwind Bakery" in text
        gate = page.locator(f"section:has-text('{approved_run}')")
        gate.locator("input[name=note]").fill("cohort checked")
        gate.locator("button[value=approve]").click()
        page.wait_for_selector(".flash.ok")
        _wait_status(page, f"{url}/runs/{approved_run}", "succeeded")
        assert "per_recipient" in page.inner_text("body")
        outbox = os.path.join(home, "outbox")
        assert len([f for f in os.listdir(outbox) if f.endswith(".eml")]) == 4

        page.goto(url + "/proposed-actions")
        other = page.locator(f"section:has-text('{rejected_run}')")
        other.locator("button[value=reject]").click()
        page.wait_for_selector(".flash.ok")
        _wait_status(page, f"{url}/runs/{rejected_run}", "rejected")
        time.sleep(0.5)
        assert len([f for f in os.listdir(outbox) if f.endswith(".eml")]) == 4
        assert page.dialogs == []  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out


@pytest.mark.skipif(bool(os.environ.get(SHOTS_ENV)), reason="refreshing screenshots on purpose")
def test_the_tracked_screenshots_are_left_alone() -> None:
    """Running the suite rewrites no tracked file (this module runs its tests in order)."""
    assert _tracked() == TRACKED_AT_START
