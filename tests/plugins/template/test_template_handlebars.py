"""template_handlebars: escaping, ``this``, each/length/partials, the ``json`` helper (error-log
lines from a real error envelope), the three codes, input kinds, and no mutation upstream."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks.kernel.plugin_host import default_host
from orchestrator_blocks.sdk.testing import check_block_type

TEMPLATE_CODES = {"template.invalid", "template.missing_data", "template.render_failed"}
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "trial_activation_nudge.py"
NASTY = 'bad "quote"\nsecond line </script><b>&amp; é\u2028'


def render(template: str, payload: Any = None, **config: Any) -> ob.RunResult:
    w = ob.new_workflow("template-test")
    w.add(ob.Block.template_handlebars(template, **config).named("render"))
    return w.run(payload)


def rendered(template: str, payload: Any = None, **config: Any) -> str:
    result = render(template, payload, **config)
    assert result.ok, result.error
    out = result.output("render")
    assert isinstance(out, str)
    return out


# -- registration and defaults ----------------------------------------------------------------


def test_the_type_passes_the_sdk_contract_with_its_codes_and_defaults(cli) -> None:
    bt = default_host().get("template_handlebars")
    check_block_type(bt)
    assert (bt.domain, bt.codes) == ("template", TEMPLATE_CODES)
    policy = ob.Block.template_handlebars("x").policy
    assert (policy.retries, policy.timeout_ms) == (0, None)  # §6.3/§6.5: none, 0, n/a
    listed = cli("plugins", "list", "--json")
    row = next(
        t for t in json.loads(listed.out)["block_types"] if t["type_id"] == "template_handlebars"
    )
    assert (set(row["codes"]), row["timeout_ms"], row["retries"]) == (TEMPLATE_CODES, None, 0)


# -- rendering --------------------------------------------------------------------------------

RENDERS = [
    # (template, input, output)
    ("{{x}}", {"x": "<b>&\"'"}, "&lt;b&gt;&amp;&quot;&#x27;"),  # {{x}} escapes HTML
    ("{{{x}}}", {"x": "<b>&\"'"}, "<b>&\"'"),  # {{{x}}} does not
    ("{{this}}", "<i>hi</i>", "&lt;i&gt;hi&lt;/i&gt;"),  # this is the input
    ("{{{this}}}", "<i>hi</i>", "<i>hi</i>"),
    ("{{{this}}}", {"a": [1, None]}, '{"a": [1, null]}'),  # a Json input prints as JSON
    ("{{a.b.c}}", {"a": {"b": {"c": "deep"}}}, "deep"),
    ("{{#each items}}[{{this}}]{{/each}}", {"items": ["a", "<b>"]}, "[a][&lt;b&gt;]"),
    ("{{#each items}}{{@index}}:{{name}};{{/each}}", {"items": [{"name": "a"}, {"name": "b"}]},
     "0:a;1:b;"),
    ("{{#each o}}{{@key}}={{this}};{{/each}}", {"o": {"a": 1, "b": 2}}, "a=1;b=2;"),
    ("{{#each items}}x{{else}}none{{/each}}", {"items": []}, "none"),
    ("{{items.length}}", {"items": [1, 2, 3]}, "3"),
    ("{{items.length}}", {"items": []}, "0"),
    ("{{items.0}}/{{items.1}}", {"items": ["z", "y"]}, "z/y"),
    ("{{#if x}}yes{{else}}no{{/if}}", {"x": False}, "no"),
    ("{{#unless x}}none{{/unless}}", {"x": []}, "none"),
    ("{{#with a}}{{b}}{{/with}}", {"a": {"b": "w"}}, "w"),
    ("[{{missing}}]", {"a": 1}, "[]"),  # lenient by default: missing renders as nothing
    ("[{{a}}]", {"a": None}, "[]"),
    # dict/list methods are not data: they render as nothing, never as a bound method
    ("[{{values}}{{keys}}{{items}}{{pop}}{{count}}]", {"a": 1}, "[]"),
    ("[{{list.count}}{{list.index}}{{list.pop}}]", {"list": [1]}, "[]"),
    ("é ✓ {{x}}", {"x": "ü"}, "é ✓ ü"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "payload", "expected"), RENDERS)
def test_render(template: str, payload: Any, expected: str) -> None:
    assert rendered(template, payload) == expected


INPUTS = [
    # (input, what `this` is)
    ("plain text", "[plain text]"),  # Text
    ({"k": "v"}, '[{"k": "v"}]'),  # Json object
    ([1, "two"], '[[1, "two"]]'),  # Json array
    (42, "[42]"),  # Json scalar
    (None, "[]"),  # Empty
    (b"utf-8 bytes \xc3\xa9", "[utf-8 bytes é]"),  # Bytes (UTF-8 text)
]


@pytest.mark.parametrize(("payload", "expected"), INPUTS)
def test_input_kinds(payload: Any, expected: str) -> None:
    assert rendered("[{{{this}}}]", payload) == expected


def test_partials_see_the_current_context_and_may_nest() -> None:
    partials = {"row": "<li>{{name}}{{> badge}}</li>", "badge": "{{#if vip}}*{{/if}}"}
    out = rendered(
        "<ul>{{#each people}}{{> row}}{{/each}}</ul>",
        {"people": [{"name": "<Ann>", "vip": True}, {"name": "Bo"}]},
        partials=partials,
    )
    assert out == "<ul><li>&lt;Ann&gt;*</li><li>Bo</li></ul>"


# -- the json helper --------------------------------------------------------------------------

JSON_HELPER = [
    # (value of x, or absent)
    "plain",
    NASTY,  # quotes, newline, </script>, non-ASCII, U+2028
    {"nested": [1, 2.5, None, True, {"k": "</script>"}]},
    [],
    0,
    None,
]


@pytest.mark.parametrize("x", JSON_HELPER)
def test_json_helper_writes_the_value_as_json(x: Any) -> None:
    out = rendered('{"x": {{{json x}}}}', {"x": x})
    assert json.loads(out) == {"x": x}
    assert len(out.splitlines()) == 1  # one JSON Lines record, whatever the value
    assert "</" not in out  # cannot close a <script> element it is embedded in


def test_json_helper_writes_null_for_a_missing_value() -> None:
    assert rendered("{{{json missing}}}|{{{json a.b}}}", {"a": {}}) == "null|null"


def test_json_helper_in_double_braces_is_html_escaped_too() -> None:
    assert rendered("{{json x}}", {"x": "<a>"}) == "&quot;&lt;a&gt;&quot;"


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("trial_activation_nudge_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_error_line_from_a_real_envelope_is_one_parseable_json_line() -> None:
    """examples/trial_activation_nudge.py renders each error envelope with ``json`` and
    appends it to a JSON Lines file: do that with a real failure and read the file back."""
    example = _example()

    def fail(_: Any) -> Any:
        raise ValueError(NASTY)

    handler = ob.new_workflow("on-error")
    handler.link(
        ob.Block.template_handlebars(example.ERROR_LINE).named("render_envelope"),
        ob.Block.file_write("errors.jsonl", mode="append"),
    )
    w = ob.new_workflow("failing")
    source = ob.Block.custom_transform(fail).named("source")
    w.add(source)
    w.on_error(source, ob.Block.child_workflow(handler).named("log_error"))

    result = w.run({"any": "input"})
    assert result.status == "failed" and result.error.code == "transform.execution_failed"
    written = (Path(os.environ["ORCHESTRATOR_BLOCKS_FILES_ROOT"]) / "errors.jsonl").read_text()
    assert len(written.splitlines()) == 1
    line = json.loads(written)
    assert line["message"] == result.error.message and NASTY in line["message"]
    assert {k: line[k] for k in ("workflow_id", "block_id", "attempt", "code", "origin")} == {
        "workflow_id": "failing",
        "block_id": "source",
        "attempt": 1,
        "code": "transform.execution_failed",
        "origin": "block",
    }
    assert line["run_id"] == result.run_id
    assert (line["retry_disposition"], line["provider_status"]) == ("never", None)


# -- codes ------------------------------------------------------------------------------------

INVALID = [
    # (template, partials, reason)
    ("Hi {{name", None, "not closed"),  # pybars alone would silently drop the tail
    ("{{#each items}}x", None, "not closed"),
    ("{{/each}}", None, "does not compile"),
    ("{{#if x}}{{/each}}", None, "does not compile"),
    ("{{{x}}", None, "does not compile"),
    ("ok", {"p": "{{x"}, "partial 'p'"),
    ("{{> nope}}", None, "'nope'"),  # a partial that was not given
    ("{{> a}}", {"a": "{{> b}}"}, "'b'"),  # ... also inside a partial
]


@pytest.mark.parametrize(("template", "partials", "reason"), INVALID)
def test_a_template_that_cannot_render_fails_at_construction(
    template: str, partials: dict[str, str] | None, reason: str
) -> None:
    with pytest.raises(ob.InvalidBlockConfig, match=reason) as raised:
        ob.Block.template_handlebars(template, partials)
    assert raised.value.code == "template.invalid"


@pytest.mark.parametrize(
    "config",
    [{"template": 5}, {"template": "x", "partials": {"p": 1}}, {"template": "x", "strict": "yes"}],
)
def test_config_of_the_wrong_type_fails_at_construction(config: dict[str, Any]) -> None:
    with pytest.raises(ob.InvalidBlockConfig):
        ob.Block.template_handlebars(**config)


STRICT_MISSING = [
    ("{{missing}}", {"a": 1}, "missing"),
    ("{{a.b}}", {"a": {}}, "b"),
    ("{{items.5}}", {"items": [1]}, "5"),
    ("{{#each items}}{{x}}{{/each}}", {"items": [{"x": 1}, {}]}, "x"),
    ("{{#if missing}}y{{/if}}", {}, "missing"),
    ("{{{json missing}}}", {}, "missing"),  # strict: even the json helper's argument
]


@pytest.mark.parametrize(("template", "payload", "name"), STRICT_MISSING)
def test_strict_mode_fails_on_missing_data(template: str, payload: Any, name: str) -> None:
    result = render(template, payload, strict=True)
    assert result.status == "failed"
    assert result.error.code == "template.missing_data"
    assert result.error.retry_disposition == "never"
    assert f"'{name}'" in result.error.message
    assert len(result.events_of("block.started")) == 1  # never retried
    assert rendered(template, payload) is not None  # the same renders leniently


@pytest.mark.parametrize(
    ("template", "payload", "expected"),
    [
        ("[{{a}}]", {"a": None}, "[]"),
        ("{{this}}", "text", "text"),
        ("{{a.b}}", {"a": {"b": 0}}, "0"),
    ],
)
def test_strict_mode_accepts_present_values_even_null(
    template: str, payload: Any, expected: str
) -> None:
    assert rendered(template, payload, strict=True) == expected


RENDER_FAILED = [
    ("{{#if}}x{{/if}}", {}, "TypeError"),  # a helper misused
    ("{{nope 1}}", {}, "nope"),  # an unknown helper called with arguments
    ("{{this}}", b"\xff\xfe", "binary"),  # Bytes that are not text
]


@pytest.mark.parametrize(("template", "payload", "reason"), RENDER_FAILED)
def test_render_failures(template: str, payload: Any, reason: str) -> None:
    result = render(template, payload)
    assert result.status == "failed"
    assert result.error.code == "template.render_failed"
    assert result.error.retry_disposition == "never"
    assert reason in result.error.message
    assert len(result.events_of("block.started")) == 1


def test_a_partial_including_itself_is_a_render_failure_not_a_crash() -> None:
    result = render("{{> loop}}", {}, partials={"loop": "x{{> loop}}"})
    assert result.status == "failed"
    assert result.error.code == "template.render_failed"


# -- immutability -----------------------------------------------------------------------------


def test_a_template_never_mutates_the_upstream_output() -> None:
    original = {"a": {"k": 1}, "list": [3, 1, 2], "n": 1}
    w = ob.new_workflow("no-mutation")
    source = ob.Block.custom_transform(lambda _: json.loads(json.dumps(original))).named("src")
    poke = (
        "{{a.clear}}{{a.popitem}}{{a.update}}{{a.setdefault}}{{list.pop}}{{list.clear}}"
        "{{list.sort}}{{list.reverse}}{{list.append}}{{#each list}}{{pop}}{{/each}}"
        "{{#with a}}{{clear}}{{/with}}"
    )
    render_block = ob.Block.template_handlebars(poke).named("render")
    after = ob.Block.custom_transform(lambda v: v).named("after")
    w.link(source, render_block)
    w.link(source, after)
    result = w.run(None)
    assert result.ok, result.error
    assert result.output("render") == ""
    assert result.output("src") == original
    assert result.output("after") == original
