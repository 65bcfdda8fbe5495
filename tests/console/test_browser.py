"""End to end in Debian's Chromium (Playwright): log in, approve and reject proposals, open a
run's timeline and a workflow's graph; screenshots go to docs/screenshots/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / "docs" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

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


def test_approve_and_reject_in_the_browser(page: Any, console: Console) -> None:
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
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "approvals.png"), full_page=True)

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


def test_non_approver_sees_one_line_error(page: Any, console: Console) -> None:
    p = stage_batch_proposal(console.store, ref="eve")
    log_in(page, console, name="eve")
    page.locator(f"#p{p.id} button[value=approve]").click()
    error = page.wait_for_selector(".flash.error")
    assert error.inner_text() == "only the configured approver (mike) can decide; 'eve' cannot"
    assert page.locator(f"section#p{p.id}").get_attribute("data-status") == "pending"
    assert console.store.proposals.get(p.id).status == "pending"


def test_run_timeline_and_workflow_graph(page: Any, console: Console) -> None:
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
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "run-timeline.png"), full_page=True)

    page.click(".grow[data-block=push] >> nth=0 >> a")
    page.wait_for_url("**/logs?block=push")
    assert "block.retry_scheduled" in page.inner_text("table.logs")

    page.goto(console.url + "/workflows/nightly_digest")
    lanes = page.locator("svg.flow text").all_text_contents()
    for title in ("01 / Trigger", "04 / Steps and fan-out", "05 / Post actions", "06 / Verify"):
        assert title in lanes
    assert page.locator("path.edge-error").count() == 1
    assert page.locator("path.edge-success").count() == 1
    assert "workflow_run_log" in page.inner_text("table.changes")
    assert page.dialogs == []  # type: ignore[attr-defined]
