"""``ctx.secret(name)``: the environment of the run, else a private secrets file; the value
is registered with the redactor, and a missing or exposed secret is a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.redaction import REDACTED, scrub
from orchestrator_blocks.sdk.testing import BlockHarness, make_context

TOKEN = "crm-tok-5Jd83kQp"


@sdk.block_type("crm_call", domain="custom:crm", codes=["crm.failed"])
def crm_call(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
    """Reads its token, logs it by mistake, and fails quoting it."""
    token = ctx.secret("crm_token").get_secret_value()
    ctx.log.info("crm.calling", auth_header=f"Bearer {token}", note=f"using {token}")
    raise sdk.BlockError("crm.failed", f"crm refused {token}", details={"sent": token})


def _secrets_file(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / "secrets.env"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_secret_comes_from_the_runs_environment_and_is_registered(tmp_path: Path) -> None:
    ctx, _ = make_context(home=tmp_path, env={"ORCHESTRATOR_BLOCKS_SECRET_CRM_TOKEN": TOKEN})
    secret = ctx.secret("crm_token")
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == TOKEN
    assert str(secret) == REDACTED
    assert scrub(f"sent {TOKEN}") == f"sent {REDACTED}"


def test_the_harness_never_reads_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SECRET_CRM_TOKEN", TOKEN)
    ctx, _ = make_context(home=tmp_path)
    with pytest.raises(sdk.SecretNotFound) as caught:
        ctx.secret("crm_token")
    message = str(caught.value)
    assert "ORCHESTRATOR_BLOCKS_SECRET_CRM_TOKEN" in message
    assert str(tmp_path / "secrets.env") in message and "no such file" in message
    assert isinstance(caught.value, LookupError)


def test_a_private_secrets_file_is_read(tmp_path: Path) -> None:
    _secrets_file(
        tmp_path,
        "# credentials for the CRM\n\nexport OTHER=x\ncrm_token = 'crm-tok-5Jd83kQp'\n",
    )
    ctx, _ = make_context(home=tmp_path)
    assert ctx.secret("CRM_TOKEN").get_secret_value() == TOKEN
    assert scrub(TOKEN) == REDACTED


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    _secrets_file(tmp_path, "CRM_TOKEN=from-the-file\n")
    ctx, _ = make_context(home=tmp_path, env={"ORCHESTRATOR_BLOCKS_SECRET_CRM_TOKEN": TOKEN})
    assert ctx.secret("crm_token").get_secret_value() == TOKEN


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = _secrets_file(tmp_path, f"CRM_TOKEN={TOKEN}\n", mode)
    ctx, _ = make_context(home=tmp_path)
    with pytest.raises(sdk.InsecureSecretsFile, match=f"chmod 600 {path}"):
        ctx.secret("crm_token")


@pytest.mark.parametrize(
    ("text", "why"), [("OTHER=x\n", "not in the file"), ("CRM_TOKEN=\n", "empty there")]
)
def test_a_missing_secret_says_where_it_looked(tmp_path: Path, text: str, why: str) -> None:
    _secrets_file(tmp_path, text)
    ctx, _ = make_context(home=tmp_path)
    with pytest.raises(sdk.SecretNotFound, match=why):
        ctx.secret("crm_token")


@pytest.mark.parametrize("name", ["", "crm-token", "1st", "a b", "../x"])
def test_secret_names_are_identifiers(tmp_path: Path, name: str) -> None:
    ctx, _ = make_context(home=tmp_path)
    with pytest.raises(ValueError, match="identifiers"):
        ctx.secret(name)


def test_a_block_that_leaks_its_secret_leaks_nothing(block_harness: BlockHarness) -> None:
    outcome = block_harness.run(crm_call, env={"ORCHESTRATOR_BLOCKS_SECRET_CRM_TOKEN": TOKEN})
    assert outcome.error is not None and outcome.error.code == "crm.failed"
    assert TOKEN not in repr(outcome.error.to_dict())
    assert outcome.error.message == f"crm refused {REDACTED}"
    assert TOKEN not in repr(block_harness.logs.events)
    (calling,) = block_harness.logs.named("crm.calling")
    assert calling["auth_header"] == REDACTED and calling["note"] == f"using {REDACTED}"


def test_settings_register_what_they_read() -> None:
    settings = sdk.Settings.from_env(
        {
            "ORCHESTRATOR_BLOCKS_SMTP_URL": "smtp://mailer:smtp-pw-991@127.0.0.1:25",
            "ORCHESTRATOR_BLOCKS_AI_KEY": "sk-ai-key-12345",
            "ORCHESTRATOR_BLOCKS_FEED_URL": "https://h/feed?access_token=feed-tok-777",
        }
    )
    assert settings.secret("SMTP_URL") is not None and settings.secret("AI_KEY") is not None
    assert settings.get("FEED_URL") is not None
    text = "smtp-pw-991 sk-ai-key-12345 feed-tok-777"
    assert scrub(text) == " ".join([REDACTED] * 3)
    assert "smtp-pw-991" not in repr(settings)
