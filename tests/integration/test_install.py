"""Packaging: `pip install .` (a built wheel) and `pip install -e .` both work in fresh
virtual environments, and a third-party plugin distribution from ``contrib_blocks/`` is
found after `pip install` and runs in a workflow (DESIGN §1, issue acceptance).

These tests create real virtual environments and install from the package index, so they
take tens of seconds; they are part of the suite on purpose.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from support.http_server import Reply, ScriptedHTTPServer
from support.venvs import REPO, clean_env, make_venv, run

pytestmark = pytest.mark.slow

TINY = textwrap.dedent(
    """
    import json, sys
    import orchestrator_blocks as ob
    from orchestrator_blocks import sdk, kernel, plugins
    w = ob.new_workflow("tiny")
    a = ob.Block.custom_transform(lambda p: p + 1)
    b = ob.Block.custom_transform(lambda p: p * 2)
    w.link(a, b)
    r = w.run(20)
    print(json.dumps({"status": str(r.status), "out": r.output(b), "sdk": sdk.__file__,
                      "transitions": list(r.transitions)}))
    """
)


@pytest.fixture(scope="module")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv_bin = make_venv(tmp_path_factory.mktemp("venv") / "wheel-venv")
    run([str(venv_bin / "pip"), "install", "-q", str(wheel)], cwd=wheel.parent)
    return venv_bin


def test_wheel_install_runs_a_workflow(wheel_venv: Path, tmp_path: Path) -> None:
    out = run([str(wheel_venv / "python"), "-c", TINY], cwd=tmp_path, env=clean_env(tmp_path))
    data = json.loads(out)
    assert data["status"] == "succeeded" and data["out"] == 42
    assert data["transitions"] == ["created", "running", "succeeded"]
    assert "site-packages" in data["sdk"]
    listing = json.loads(
        run(
            [str(wheel_venv / "orchestrator-blocks"), "plugins", "list", "--json"],
            cwd=tmp_path,
            env=clean_env(tmp_path),
        )
    )
    assert {"custom_transform", "child_workflow"} <= {t["type_id"] for t in listing["block_types"]}
    assert listing["failures"] == []


def test_the_readmes_first_command_runs_the_demo(wheel_venv: Path, tmp_path: Path) -> None:
    """`pip install .` then `orchestrator-blocks demo`, with nothing configured."""
    out = run(
        [str(wheel_venv / "orchestrator-blocks"), "demo"], cwd=tmp_path, env=clean_env(tmp_path)
    )
    assert "trial_activation_nudge run" in out and "succeeded" in out
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_editable_install_runs_a_workflow(tmp_path: Path) -> None:
    venv_bin = make_venv(tmp_path / "editable-venv")
    run([str(venv_bin / "pip"), "install", "-q", "-e", str(REPO)], cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    data = json.loads(
        run([str(venv_bin / "python"), "-c", TINY], cwd=work, env=clean_env(tmp_path))
    )
    assert data["status"] == "succeeded" and data["out"] == 42
    assert Path(data["sdk"]).resolve() == (REPO / "sdk" / "__init__.py").resolve()


CONTRIB_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import orchestrator_blocks as ob
    base = sys.argv[1]
    results = {}
    for name, path in [("ok", "/hook"), ("flaky", "/flaky"), ("refused", "/refused")]:
        w = ob.new_workflow("notify_" + name)
        post = ob.Block.chat_webhook(base + path, username="bot").set_retry_exponential(2, 5, 2.0)
        w.add(post)
        r = w.run({"rows": 42} if name == "ok" else "hello")
        results[name] = {"status": str(r.status), "out": r.output(post),
                         "code": r.error.code if r.error else None,
                         "attempts": len(r.events_of("block.started"))}
    print(json.dumps(results))
    """
)


def test_contrib_plugin_installs_lists_and_runs(
    wheel: Path, wheel_venv: Path, tmp_path: Path
) -> None:
    plugin_src = REPO / "contrib_blocks" / "chat_webhook"
    run(
        [
            str(wheel_venv / "pip"),
            "install",
            "-q",
            "--find-links",
            str(wheel.parent),
            str(plugin_src),
        ],
        cwd=tmp_path,
    )
    env = clean_env(tmp_path)
    listing = json.loads(
        run(
            [str(wheel_venv / "orchestrator-blocks"), "plugins", "list", "--json"],
            cwd=tmp_path,
            env=env,
        )
    )
    row = next(t for t in listing["block_types"] if t["type_id"] == "chat_webhook")
    assert row["source"] == "orchestrator-blocks-chat-webhook 0.1.0"
    assert row["domain"] == "custom:chat_webhook"
    assert (row["timeout_ms"], row["retries"]) == (10_000, 2)

    script = tmp_path / "notify.py"
    script.write_text(CONTRIB_SCRIPT)
    with ScriptedHTTPServer() as server:
        server.script("/hook", Reply(200, "ok"))
        server.script("/flaky", Reply(503, "busy"), Reply(200, "ok"))
        server.script("/refused", Reply(403, "bad token"))
        out = run([str(wheel_venv / "python"), str(script), server.url("")], cwd=tmp_path, env=env)
        posted = server.requests_to("/hook")[0].json()
    results = json.loads(out)
    assert results["ok"]["status"] == "succeeded"
    assert results["ok"]["out"] == {"posted": True, "status": 200}
    assert '"rows": 42' in posted["text"] and posted["username"] == "bot"
    assert results["flaky"] == {
        "status": "succeeded",
        "out": {"posted": True, "status": 200},
        "code": None,
        "attempts": 2,
    }
    assert results["refused"]["code"] == "chat_webhook.rejected"
    assert results["refused"]["attempts"] == 1
