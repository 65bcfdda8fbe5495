"""Plugin discovery through entry points (stevedore) and calling through pluggy.

Distributions are installed for real into a directory on ``sys.path`` (a ``.dist-info``
with ``entry_points.txt`` next to the module), which is exactly what pip leaves behind.
"""

from __future__ import annotations

import json
import textwrap
import types
from pathlib import Path

import pluggy
import pytest
from stevedore import ExtensionManager

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.kernel.plugin_host import PluginHost, reset_default_host


def install_dist(site: Path, dist: str, module: str, source: str, ep_name: str) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[orchestrator_blocks.plugins]\n{ep_name} = {module}\n")


GOOD = """
from orchestrator_blocks import sdk

@sdk.block_type("{type_id}", codes=["{type_id}.oops"])
def block(ctx, value, suffix="!"):
    '''Append a suffix.'''
    return value.text() + suffix

@sdk.hookimpl
def register_block_types(registry):
    registry.add(block)
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    ExtensionManager.ENTRY_POINT_CACHE.clear()
    yield path
    ExtensionManager.ENTRY_POINT_CACHE.clear()
    reset_default_host()


def test_builtins_come_from_entry_points() -> None:
    host = PluginHost()
    assert {"custom_transform", "combine", "child_workflow"} <= set(host.registry.type_ids())
    assert host.registry.source_of("combine").startswith("orchestrator-blocks ")
    assert host.failures == []


def test_third_party_plugin_is_discovered_and_runs(site: Path) -> None:
    install_dist(site, "acme-blocks", "acme_blocks", GOOD.format(type_id="acme_suffix"), "acme")
    reset_default_host()
    w = ob.new_workflow("acme")
    blk = ob.Block.acme_suffix(suffix="?")
    w.add(blk)
    assert w.run("hi").output(blk) == "hi?"
    host = PluginHost()
    assert host.registry.source_of("acme_suffix") == "acme-blocks 1.2.3"


def test_broken_plugin_is_reported_and_skipped(site: Path, cli) -> None:
    install_dist(site, "broken-blocks", "broken_blocks", "import no_such_module\n", "broken")
    install_dist(
        site,
        "raising-blocks",
        "raising_blocks",
        textwrap.dedent("""
        from orchestrator_blocks import sdk
        @sdk.hookimpl
        def register_block_types(registry):
            raise RuntimeError("config missing")
    """),
        "raising",
    )
    host = PluginHost()
    reasons = {f.name: (f.source, f.reason) for f in host.failures}
    assert reasons["broken"][0] == "broken-blocks 1.2.3"
    assert "no_such_module" in reasons["broken"][1]
    assert "config missing" in reasons["raising"][1]
    assert "custom_transform" in host.registry  # the host kept going

    reset_default_host()
    res = cli("plugins", "list", "--json")
    assert res.code == 0, res
    listing = json.loads(res.out)
    failed = {f["name"]: f for f in listing["failures"]}
    assert "no_such_module" in failed["broken"]["reason"]
    assert failed["broken"]["source"] == "broken-blocks 1.2.3"


def test_two_plugins_claiming_one_type_is_a_clear_error(site: Path) -> None:
    install_dist(site, "first-blocks", "first_blocks", GOOD.format(type_id="dup"), "first")
    install_dist(site, "second-blocks", "second_blocks", GOOD.format(type_id="dup"), "second")
    reset_default_host()
    with pytest.raises(ob.PluginConflict) as info:
        ob.Block.dup()
    message = str(info.value)
    assert "first-blocks 1.2.3" in message and "second-blocks 1.2.3" in message
    assert ob.Block.custom_transform(lambda p: p)  # other types are unaffected


def test_register_plugin_at_run_time() -> None:
    @sdk.block_type("shout", codes=["shout.never"])
    def shout(ctx: sdk.RunContext, value: sdk.Value) -> str:
        """Upper-case the input."""
        return value.text().upper()

    plugin = types.ModuleType("shout_plugin")
    plugin.register_block_types = sdk.hookimpl(lambda registry: registry.add(shout))
    ob.register_plugin(plugin)
    w = ob.new_workflow("shout")
    blk = ob.Block.shout()
    w.add(blk)
    assert w.run("hey").output(blk) == "HEY"
    assert "shout" in dir(ob.Block)

    clash = types.ModuleType("clash_plugin")
    clash.register_block_types = sdk.hookimpl(
        lambda registry: registry.add(
            sdk.block_type("combine", domain="transform")(lambda ctx, value: value)
        )
    )
    with pytest.raises(ob.PluginConflict, match="clash_plugin"):
        ob.register_plugin(clash)


def _shout_plugin(name: str = "shout_plugin") -> types.ModuleType:
    @sdk.block_type("shout", codes=["shout.never"])
    def shout(ctx: sdk.RunContext, value: sdk.Value) -> str:
        """Upper-case the input."""
        return value.text().upper()

    plugin = types.ModuleType(name)
    plugin.register_block_types = sdk.hookimpl(lambda registry: registry.add(shout))
    return plugin


def test_registering_the_same_plugin_twice_is_harmless() -> None:
    plugin = _shout_plugin()
    ob.register_plugin(plugin)
    ob.register_plugin(plugin)  # a notebook cell run again
    assert ob.Block.shout().type_id == "shout"


def test_another_object_under_a_taken_name_is_a_one_line_conflict() -> None:
    ob.register_plugin(_shout_plugin())
    with pytest.raises(ob.PluginConflict) as info:
        ob.register_plugin(_shout_plugin())
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    assert "'shout_plugin' is already registered" in message and "name=" in message
    assert info.value.type_id is None
    with pytest.raises(ob.PluginConflict, match="block type 'shout' is provided by both"):
        ob.register_plugin(_shout_plugin(), name="shout_again")  # a new name, the same type


def test_an_unknown_type_suggests_close_names() -> None:
    with pytest.raises(ob.UnknownBlockType) as info:
        ob.Block.custom_transfrom(lambda p: p)
    assert "did you mean 'custom_transform'?" in str(info.value)
    assert info.value.suggestions == ["custom_transform"]
    with pytest.raises(ob.UnknownBlockType, match="did you mean 'split_lines'"):
        ob.Block.of("split_line")
    with pytest.raises(ob.UnknownBlockType) as info:
        ob.Block.of("zzz_nothing_like_it")
    assert "did you mean" not in str(info.value)


def test_an_unknown_type_names_the_plugins_that_failed_to_load(site: Path) -> None:
    install_dist(site, "github-blocks", "github_blocks", "import no_such_sdk\n", "github")
    reset_default_host()
    with pytest.raises(ob.UnknownBlockType) as info:
        ob.Block.github_create_issue()
    assert "plugins that failed to load: github (ModuleNotFoundError" in str(info.value)


def test_a_misspelt_config_argument_suggests_the_parameter() -> None:
    with pytest.raises(ob.InvalidBlockConfig, match="did you mean 'keep_empty'"):
        ob.Block.split_lines(keep_emtpy=True)


def test_malformed_plugin_is_refused_at_registration() -> None:
    bad = types.ModuleType("bad_plugin")
    bad.register_block_types = sdk.hookimpl(lambda registry, extra: None)
    with pytest.raises(pluggy.PluginValidationError):
        ob.register_plugin(bad)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"domain": "custom:x", "codes": ["y.bad"]}, "not namespaced"),
        ({"domain": "http", "codes": ["runtime.timeout"]}, "not namespaced"),
        ({"codes": ["x.a"], "timeout_code": "x.b"}, "timeout_code"),
    ],
)
def test_block_type_declarations_are_checked(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        sdk.block_type("x", **kwargs)(lambda ctx, value: value)


def test_builtin_families_pass_the_sdk_contract() -> None:
    from orchestrator_blocks.sdk.testing import check_registry

    checked = check_registry(PluginHost().registry)
    assert {
        "combine",
        "custom_transform",
        "split_lines",
        "split_by_keys",
        "select_first",
        "child_workflow",
    } <= set(checked)


def test_the_host_s_manager_finds_exactly_the_hooks_pluggy_finds() -> None:
    """The host's manager skips a module's unmarked attributes without pluggy's lookup; every
    answer is still pluggy's, for every installed plugin and for objects that are not
    modules."""
    from orchestrator_blocks.sdk._manager import PluginManager

    class Hooks:
        @sdk.hookimpl
        def run_started(self, run: object) -> None: ...

        @property
        def describe_workflow(self) -> None:
            raise AssertionError("a property is not evaluated")

    module = types.ModuleType("acme_module")
    module.run_started = Hooks.run_started  # type: ignore[attr-defined]
    module.helper = lambda: None  # type: ignore[attr-defined]
    plugins = [e.plugin for e in ExtensionManager("orchestrator_blocks.plugins").extensions]
    ours, pluggys = (
        PluginManager(sdk.hookspecs.PROJECT),
        pluggy.PluginManager("orchestrator_blocks"),
    )
    found = 0
    for plugin in [*plugins, Hooks(), module]:
        for name in dir(plugin):
            answer = ours.parse_hookimpl_opts(plugin, name)
            assert answer == pluggys.parse_hookimpl_opts(plugin, name), (plugin, name)
            found += answer is not None
    assert found > len(plugins)
