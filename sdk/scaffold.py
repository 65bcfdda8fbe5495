"""What ``orchestrator-blocks plugins new NAME`` writes: a plugin distribution to grow from.

:func:`render` returns the files (relative path -> text) of a pip-installable distribution
``orchestrator-blocks-<name>``: a ``pyproject.toml`` with the entry point, a package
``orchestrator_blocks_<name>`` declaring a family with one block type, tests on the SDK's
test kit (``orchestrator_blocks.sdk.testing``) and a README. It passes its own tests right
after ``pip install -e '.[test]'`` (or a regular install). Plain data, no kernel: the
kernel's CLI writes the files.
"""

from __future__ import annotations

import keyword
import re
from string import Template

__all__ = ["distribution_name", "package_name", "render"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=69", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "orchestrator-blocks plugin: the $name block family."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["orchestrator-blocks>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This is the whole integration: orchestrator-blocks finds the plugin through this group.
[project.entry-points."orchestrator_blocks.plugins"]
$name = "$package"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra --strict-markers"
"""

PACKAGE = '''\
"""$name: a block family for orchestrator-blocks.

The family is declared once (domain ``custom:$name``, its codes with their retry
disposition and meaning, the default policy); each block type inherits it and overrides
what differs. ``orchestrator-blocks plugins show ${name}_greet`` prints what is declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator_blocks import sdk

INVALID_INPUT = "$name.invalid_input"

FAMILY = sdk.family(
    "$name",
    codes=[
        sdk.Code(INVALID_INPUT, "never", "the input is not text"),
        # A failure worth retrying is declared "backoff", e.g. for an API of yours:
        # sdk.Code("$name.unavailable", "backoff", "the service did not answer"),
    ],
    timeout=10,
    retries=2,
    description="greets people (replace me with what your blocks do)",
)


def _validate(config: Mapping[str, Any]) -> None:
    """Runs when the block is built: a bad argument fails there, not mid-run."""
    if not str(config["greeting"]).strip():
        raise ValueError("greeting must not be blank")


@FAMILY.block_type("${name}_greet", validate=_validate)
async def ${name}_greet(
    ctx: sdk.RunContext, value: sdk.Value, greeting: str = "Hello"
) -> sdk.Value:
    """Greet the input text: ``Hello, <input>!``."""
    if not isinstance(value, sdk.Text):
        raise sdk.BlockError(INVALID_INPUT, f"${name}_greet expects text, got {value.kind}")
    ctx.log.info("$name.greeted", greeting=greeting)
    return sdk.Text(f"{greeting}, {value.text()}!")


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    registry.add(FAMILY)
'''

CONFTEST = '''\
"""The SDK's test kit (fixtures: block_harness, fake_clock, run_workflow, ...)."""

from __future__ import annotations

import pytest

import $package

pytest_plugins = ["orchestrator_blocks.sdk.testing"]


@pytest.fixture
def plugins_under_test() -> list[object]:
    """What ``run_workflow`` registers: this plugin, and nothing else installed."""
    return [$package]


@pytest.fixture
def builtin_plugins() -> list[str]:
    """Built-in families ``run_workflow`` loads too (by entry-point name)."""
    return ["transform"]
'''

TESTS = '''\
"""Tests of the $name family on the SDK's test kit."""

from __future__ import annotations

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.testing import check_family, value_of
from $package import FAMILY, INVALID_INPUT, ${name}_greet


def test_the_family_keeps_the_sdk_contract() -> None:
    assert check_family(FAMILY) == ["${name}_greet"]


def test_it_greets_the_input(block_harness) -> None:
    outcome = block_harness.run(${name}_greet, "Ada", config={"greeting": "Hi"})
    assert value_of(outcome) == sdk.Text("Hi, Ada!")
    [logged] = block_harness.logs.named("$name.greeted")
    assert logged["greeting"] == "Hi"


def test_input_that_is_not_text_fails_at_once(block_harness, fake_clock) -> None:
    outcome = block_harness.run(${name}_greet, {"name": "Ada"}, policy=sdk.Policy(retries=2))
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retry_disposition) == (INVALID_INPUT, "never")
    assert outcome.attempts == 1
    assert fake_clock.delays_ms == []


def test_a_blank_greeting_is_refused_when_the_block_is_built(run_workflow) -> None:
    with pytest.raises(ob.InvalidBlockConfig, match="greeting"):
        ob.Block.of("${name}_greet", greeting=" ")


def test_it_runs_in_a_workflow(run_workflow) -> None:
    w = ob.new_workflow("greet")
    greet = ob.Block.of("${name}_greet", greeting="Hello")
    shout = ob.Block.of("custom_transform", str.upper)
    w.link(greet, shout)
    result = run_workflow(w, "Ada")
    assert result.ok, result.error
    assert result.output(shout) == "HELLO, ADA!"
'''

README = """\
# $dist

A block family for [orchestrator-blocks](https://pypi.org/project/orchestrator-blocks/):
`${name}_greet` greets its text input. Replace it with your own blocks.

```bash
pip install -e '.[test]'
pytest                                        # the kit: harness, fake clock, run_workflow
orchestrator-blocks plugins list              # ${name}_greet, from $dist
orchestrator-blocks plugins show ${name}_greet
```

```python
import orchestrator_blocks as ob

w = ob.new_workflow("hello")
greet = ob.Block.${name}_greet(greeting="Hi")  # ob.Block.of("${name}_greet", ...) for type checkers
w.add(greet)
print(w.run("Ada").output(greet))             # Hi, Ada!
```

## Layout

- `pyproject.toml`: the entry point in the group `orchestrator_blocks.plugins` is the whole
  integration; `pip install` it and every workflow can use the family's types.
- `src/$package/__init__.py`: the family (`sdk.family`: domain `custom:$name`, codes
  with their retry disposition and meaning, default policy) and its block types
  (`@FAMILY.block_type`), registered by the `register_block_types` hook.
- `tests/`: the SDK's test kit (`orchestrator_blocks.sdk.testing`): `block_harness` runs one
  block type through the real executor on a fake clock (backoff sleeps are instant and
  recorded), `run_workflow` runs whole workflows with only this plugin (and the built-ins
  named in `conftest.py`) registered.

The reference for every `sdk.family` / `sdk.block_type` parameter, the hooks, the values
and the error model is the plugin guide, `docs/plugins.md` in the orchestrator-blocks
repository.
"""

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
.venv/
"""


def check_name(name: str) -> str:
    """``name`` if it can name a family, its entry point and its package; else ``ValueError``."""
    if not _NAME.match(name or "") or keyword.iskeyword(name):
        raise ValueError(
            f"a plugin name is a lower-case identifier such as 'acme' or 'github', got {name!r}"
        )
    return name


def distribution_name(name: str) -> str:
    """``orchestrator-blocks-<name>`` (underscores as dashes)."""
    return "orchestrator-blocks-" + check_name(name).replace("_", "-")


def package_name(name: str) -> str:
    """``orchestrator_blocks_<name>``."""
    return "orchestrator_blocks_" + check_name(name)


def render(name: str) -> dict[str, str]:
    """The files of a new plugin distribution for family ``name``: relative path -> text."""
    values = {"name": check_name(name), "dist": distribution_name(name)}
    values["package"] = package_name(name)
    files = {
        "pyproject.toml": PYPROJECT,
        f"src/{values['package']}/__init__.py": PACKAGE,
        "tests/conftest.py": CONFTEST,
        f"tests/test_{name}.py": TESTS,
        "README.md": README,
        ".gitignore": GITIGNORE,
    }
    return {path: Template(text).substitute(values) for path, text in files.items()}
