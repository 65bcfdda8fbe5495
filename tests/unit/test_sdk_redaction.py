"""The SDK's one redactor (``orchestrator_blocks.sdk.redaction``) as tables: each row is an
input and exactly what may be shown of it."""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from orchestrator_blocks.sdk import redaction
from orchestrator_blocks.sdk.redaction import (
    MIN_SECRET_CHARS,
    REDACTED,
    SNIPPET_CHARS,
    Redactor,
    is_secret_key,
    is_secret_param,
    is_sensitive_header,
    redact_mapping,
    redact_text,
    redact_url,
    redact_value,
    register_config_credentials,
    register_secret,
    register_url_credentials,
    scrub,
)

R = REDACTED


def test_the_public_surface_is_pinned():
    assert set(redaction.__all__) == {
        "MIN_SECRET_CHARS",
        "REDACTED",
        "SNIPPET_CHARS",
        "Redactor",
        "forget_secrets",
        "is_secret_key",
        "is_secret_param",
        "is_sensitive_header",
        "redact_event",
        "redact_mapping",
        "redact_text",
        "redact_url",
        "redact_value",
        "register_config_credentials",
        "register_secret",
        "register_url_credentials",
        "scrub",
    }
    assert R == "**********" == str(SecretStr("x"))  # one mask, whatever masked it


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p%40ss@h:8/a?b=1#frag", f"http://{R}@h:8/a?b=1"),
        ("http://token@h/a", f"http://{R}@h/a"),
        ("postgresql://app:s3cret@db:5432/prod", f"postgresql://{R}@db:5432/prod"),
        ("https://h/a?token=t&page=2", f"https://h/a?token={R}&page=2"),
        (
            "https://h/a?X-Amz-Signature=s&accessToken=t",
            f"https://h/a?X-Amz-Signature={R}&accessToken={R}",
        ),
        ("https://h/v1?key=AIza123&alt=json", f"https://h/v1?key={R}&alt=json"),
        ("https://h/cb?code=abc&state=xyz", f"https://h/cb?code={R}&state=xyz"),
        ("https://h/?client_secret=x&sig=y&sid=z", f"https://h/?client_secret={R}&sig={R}&sid={R}"),
        ("https://h/?api%5Fkey=x", f"https://h/?api%5Fkey={R}"),
        ("https://h/?password=&q=1", "https://h/?password=&q=1"),
        (
            "postgresql://app:pw@db/prod?sslpassword=x&sslmode=require",
            f"postgresql://{R}@db/prod?sslpassword={R}&sslmode=require",
        ),
        ("https://h/v1?api-version=2024-06-01", "https://h/v1?api-version=2024-06-01"),
        ("https://h/search?keyword=shoes&monkey=1", "https://h/search?keyword=shoes&monkey=1"),
        ("https://h/usage?total_tokens=5", "https://h/usage?total_tokens=5"),
        ("https://h/cb#access_token=abc", "https://h/cb"),
        ("https://h/users/@me", "https://h/users/@me"),
        ("sqlite:///var/lib/state.db", "sqlite:///var/lib/state.db"),
        ("  https://h/x  ", "https://h/x"),
        ("http://[::1", "<unparseable url>"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("PASSWORD", True),
        ("smtp_pass", True),
        ("passphrase", True),
        ("sslpassword", True),
        ("userpasswd", True),
        ("pwd", True),
        ("secret", True),
        ("client_secret", True),
        ("api_key", True),
        ("apiKey", True),
        ("APIKey", True),
        ("X-API-Key", True),
        ("private_key", True),
        ("token", True),
        ("access_token", True),
        ("accessToken", True),
        ("refresh-token", True),
        ("Authorization", True),
        ("cookie", True),
        ("Set-Cookie", True),
        ("session_id", True),
        ("sessionId", True),
        ("credentials", True),
        ("jwt", True),
        ("signature", True),
        ("auth_header", True),
        ("authHeader", True),
        ("total_tokens", False),
        ("max_tokens", False),
        ("keyword", False),
        ("monkey", False),
        ("passenger", False),
        ("bypass", False),
        ("compass", False),
        ("author", False),
        ("url", False),
        ("code", False),  # an error code in a record; a secret only in a query string
        ("key", False),  # an idempotency key in a record; an API key only in a query string
    ],
)
def test_is_secret_key(name, secret):
    assert is_secret_key(name) is secret


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("key", True),
        ("sig", True),
        ("code", True),
        ("auth", True),
        ("sid", True),
        ("X-Amz-Signature", True),
        ("X-Amz-Credential", True),
        ("api%5Fkey", True),
        ("api_key", True),
        ("page", False),
        ("state", False),
        ("keyword", False),
        ("api-version", False),
        ("author", False),
    ],
)
def test_is_secret_param(name, secret):
    assert is_secret_param(name) is secret


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("Cookie", True),
        ("X-API-Key", True),
        ("X-Auth-Token", True),
        ("X-Session-Id", True),
        ("X-Amz-Security-Token", True),
        ("Accept", False),
        ("Content-Type", False),
        ("X-Tenant", False),
        ("User-Agent", False),
    ],
)
def test_is_sensitive_header(name, sensitive):
    assert is_sensitive_header(name) is sensitive


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "GET https://bob:hunter22@h/x?token=abc&page=2 failed",
            f"GET https://{R}@h/x?token={R}&page=2 failed",
        ),
        ("ftp://x:y@h/ then http://a@b/", f"ftp://{R}@h/ then http://{R}@b/"),
        ("callback 'https://h/cb?code=abc' refused", f"callback 'https://h/cb?code={R}' refused"),
        ("see https://h/users/@me", "see https://h/users/@me"),
        ("status code=500, key=idem-1", "status code=500, key=idem-1"),
        ("mail bob@example.com", "mail bob@example.com"),
        ("", ""),
    ],
)
def test_redact_text(text, shown):
    assert redact_text(text) == shown


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({"password": "pw", "user": "bob"}, {"password": R, "user": "bob"}),
        ({"password": None, "token": ""}, {"password": None, "token": ""}),
        ({"apiKey": 12345}, {"apiKey": R}),
        ({"credentials": {"user": "u", "pass": "p"}}, {"credentials": R}),
        (
            {"db": {"url": "postgresql://u:p@h/db", "api_key": "k", "pool": 5}},
            {"db": {"url": f"postgresql://{R}@h/db", "api_key": R, "pool": 5}},
        ),
        (
            {"headers": [{"Authorization": "Bearer x"}, {"Accept": "text/csv"}]},
            {"headers": [{"Authorization": R}, {"Accept": "text/csv"}]},
        ),
        (
            {"urls": ("https://h/?sig=s", "https://h/")},
            {"urls": (f"https://h/?sig={R}", "https://h/")},
        ),
        (
            {"code": "http.timeout", "key": "idem-1", "total_tokens": 12, "ok": True},
            {"code": "http.timeout", "key": "idem-1", "total_tokens": 12, "ok": True},
        ),
        ({"note": "see https://h/cb?code=abc"}, {"note": f"see https://h/cb?code={R}"}),
        ({"ai_key": SecretStr("sk-1"), "nested": [SecretStr("x")]}, {"ai_key": R, "nested": [R]}),
        (
            {"headers": {"X-Auth": "a1", "X-Custom-Signature": "s", "Accept": "text/csv"}},
            {"headers": {"X-Auth": "a1", "X-Custom-Signature": R, "Accept": "text/csv"}},
        ),
        (
            {"config": {"url": "https://bot:hunter2@h/x?access_token=t", "retries": 2}},
            {"config": {"url": f"https://{R}@h/x?access_token={R}", "retries": 2}},
        ),
    ],
)
def test_redact_mapping(data, shown):
    assert redact_mapping(data) == shown


def test_redact_mapping_never_changes_its_input():
    data = {"db": {"password": "pw"}, "items": ["http://u:p@h/"]}
    redact_mapping(data)
    assert data == {"db": {"password": "pw"}, "items": ["http://u:p@h/"]}


@pytest.mark.parametrize(
    ("value", "key", "shown"),
    [
        ("hunter22", "password", R),
        ("hunter22", "", "hunter22"),
        (SecretStr("s"), "anything", R),
        ("https://u:p@h/", "url", f"https://{R}@h/"),
        (42, "count", 42),
    ],
)
def test_redact_value(value, key, shown):
    assert redact_value(value, key) == shown


PASSWORD = "pw-Zq81!xy77"
TOKEN = "tok-9f8e7d6c5b4a3921"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


@pytest.mark.parametrize(
    ("redactor", "text", "shown"),
    [
        pytest.param(
            Redactor.for_request("http://alice:pw-Zq81%21xy77@h/"),
            f"echo alice:pw-Zq81%21xy77 / {PASSWORD} / Basic {BASIC}",
            f"echo {R} / {R} / Basic {R}",
            id="userinfo-raw-decoded-and-basic-auth",
        ),
        pytest.param(
            Redactor.for_request("https://h/?api_key=qs-4455667788&q=1"),
            "you sent qs-4455667788",
            f"you sent {R}",
            id="secret-query-value",
        ),
        pytest.param(
            Redactor.for_request("https://h/", {"Authorization": f"Bearer {TOKEN}"}),
            f"Bearer {TOKEN} ... token {TOKEN} ... Bearer is a word",
            f"{R} ... token {R} ... Bearer is a word",
            id="bearer-header-whole-and-token",
        ),
        pytest.param(
            Redactor.for_request("https://h/", {"Cookie": "theme=dark; session=sess-77aa88bb"}),
            "session=sess-77aa88bb theme=dark",
            f"session={R} theme=dark",
            id="cookie-value-not-its-short-neighbours",
        ),
        pytest.param(
            Redactor.for_request("https://h/", {"X-Tenant": "acme-corporation"}),
            "tenant acme-corporation",
            "tenant acme-corporation",
            id="ordinary-header-kept",
        ),
        pytest.param(
            Redactor.for_request("https://h/", secrets=["sk-1", None, ""]),
            "key sk-1 refused",
            f"key {R} refused",
            id="explicit-secret-any-length",
        ),
        pytest.param(
            Redactor.for_request(secrets=["abcdef", "abcdefgh"]),
            "abcdefgh abcdef",
            f"{R} {R}",
            id="longest-first",
        ),
        pytest.param(
            Redactor(),
            "https://u:p@h/x?token=t",
            f"https://{R}@h/x?token={R}",
            id="by-shape-without-secrets",
        ),
    ],
)
def test_redactor_text(redactor, text, shown):
    assert redactor.text(text) == shown


def test_redactor_url_masks_a_known_secret_in_the_path():
    hook = "https://chat.example/hooks/T000-B000-XXXXSECRET"
    redactor = Redactor.for_request(hook, secrets=["/hooks/T000-B000-XXXXSECRET"])
    assert redactor.url(hook + "?token=t#x") == f"https://chat.example{R}?token={R}"


def test_snippet_masks_before_it_cuts():
    secret = "sk-live-0123456789abcdef"
    redactor = Redactor.for_request(secrets=[secret])
    body = "x" * (SNIPPET_CHARS - 10) + secret + "y" * 100
    snippet = redactor.snippet(body)
    assert len(snippet) == SNIPPET_CHARS and snippet.endswith("…")
    assert secret[:8] not in snippet  # the secret straddled the cut: no part of it is shown
    assert redactor.snippet("short") == "short"


# -- the registry: secrets masked by value, wherever they turn up --------------------------

CANARY = "cnry-7Hq2-Zx81-secret"


def test_a_registered_secret_is_masked_in_every_string_redact_value_meets():
    register_secret(SecretStr(CANARY))
    data = {
        "event": f"calling with {CANARY}",
        "details": {"said": [f"echo: {CANARY}!"], "n": 3},
        "error": ValueError(f"refused {CANARY}"),
    }
    shown = redact_value(data)
    assert CANARY not in repr(shown)
    assert shown == {
        "event": f"calling with {R}",
        "details": {"said": [f"echo: {R}!"], "n": 3},
        "error": f"refused {R}",
    }
    assert scrub(f"a {CANARY} b") == f"a {R} b"


def test_registered_forms_cover_encodings_a_secret_travels_in():
    secret = 'pa ss/wo"rd+7'
    register_secret(secret)
    for form in (
        quote(secret, safe=""),
        base64.b64encode(secret.encode()).decode(),
        json.dumps(secret)[1:-1],
    ):
        assert scrub(f"<{form}>") == f"<{R}>", form


@pytest.mark.parametrize("value", ["admin", "12345", "", None, "   x    ", "      ", 123456])
def test_short_values_are_masked_by_key_only(value):
    register_secret(value)
    assert len("admin") < MIN_SECRET_CHARS
    text = "admin logged in with 12345 and x,        spaces 123456"
    assert scrub(text) == text
    assert redact_value({"password": "admin"}) == {"password": R}  # still masked by key


def test_url_credentials_are_registered_but_not_a_bare_user_name():
    register_url_credentials("https://bot:hunter2-pw@h/x?access_token=tok-123456&page=2")
    register_url_credentials("postgresql+psycopg://postgres@127.0.0.1/postgres")
    basic = base64.b64encode(b"bot:hunter2-pw").decode()
    assert scrub(f"hunter2-pw / tok-123456 / Basic {basic}") == f"{R} / {R} / Basic {R}"
    assert scrub("postgres on postgresql") == "postgres on postgresql"


def test_a_request_redactor_registers_its_credentials_for_every_sink():
    token = "tok-Request-00112233"
    Redactor.for_request("https://h/", {"Authorization": f"Bearer {token}"}, secrets=["k1"])
    assert scrub(f"echoed {token}") == f"echoed {R}"
    assert scrub("k1 is short") == "k1 is short"


def test_registering_from_many_threads_loses_nothing():
    values = [f"thread-secret-{i:04d}" for i in range(200)]
    threads = [threading.Thread(target=register_secret, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert scrub(" ".join(values)) == " ".join([R] * len(values))


def test_a_secret_containing_another_is_masked_whole():
    register_secret("abc123")
    register_secret("abc123-longer")
    assert scrub("abc123-longer and abc123") == f"{R} and {R}"


def test_a_blocks_configuration_registers_its_credentials():
    register_config_credentials(
        {
            "url": "https://bot:cfg-pw-1234@h/x?access_token=cfg-tok-5678",
            "headers": {"Authorization": "Bearer cfg-bearer-9012", "Accept": "text/plain"},
            "api_key": "cfg-key-3456",
            "steps": [{"webhook": "https://h/?sig=cfg-sig-7890"}],
            "retries": 2,
        }
    )
    text = "cfg-pw-1234 cfg-tok-5678 cfg-bearer-9012 cfg-key-3456 cfg-sig-7890 text/plain"
    assert scrub(text) == " ".join([R] * 5) + " text/plain"
